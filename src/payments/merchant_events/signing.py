"""Standard Webhooks signatures (https://www.standardwebhooks.com), made by its library.

A secret is `whsec_` and base64 of 32 random bytes. Each delivery is signed with every
secret the endpoint has at that moment: after a rotation, the new one and, for 24 hours,
the previous one, so a receiver holding either verifies it.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(
    message_id: str, body: str, signing_secrets: Sequence[str], at: datetime
) -> dict[str, str]:
    """The three headers of one attempt: `webhook-id` (the event's id, the same on every
    attempt), `webhook-timestamp` (this attempt's, seconds) and `webhook-signature` (one
    `v1,<base64>` per secret, space separated)."""
    signatures = [Webhook(secret).sign(message_id, at, body) for secret in signing_secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
