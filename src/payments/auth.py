"""Admin authentication: one bearer key, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from payments.deps import SettingsDep
from payments.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer $ADMIN_API_KEY")


async def require_admin(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    expected = settings.admin_api_key.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials else b""
    if not (credentials and hmac.compare_digest(given, expected)):
        raise Unauthorized("missing or wrong admin key", headers={"WWW-Authenticate": "Bearer"})


AdminDep = Depends(require_admin)
