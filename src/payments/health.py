"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from payments.deps import DatabaseDep
from payments.errors import ServiceUnavailable, responses

router = APIRouter(tags=["health"])


@router.get("/healthz", responses=responses())
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=responses(ServiceUnavailable))
async def readyz(database: DatabaseDep) -> dict[str, str]:
    """The process can reach its database, so it can take traffic.

    When it cannot, `Database` raises DatabaseUnavailable: 503 `service_unavailable`,
    within the DB_*_TIMEOUT_SECONDS, never a probe that hangs.
    """
    async with database.reading() as session:
        await session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}
