"""The demo shop's receiver: what a shop's backend does with each delivery.

It checks the Standard Webhooks signature with the secrets it holds (the `standardwebhooks`
library, as a shop would use it), then notes what arrived. A delivery that does not verify
is noted too, marked unverified, so that a wrong secret shows on the page instead of
vanishing; the route answers it 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from payments import strict_json
from payments.db import Database
from payments.demo_shop.inbox import Received
from payments.demo_shop.registration import DemoShop, signing_secrets

log = structlog.get_logger(__name__)

# What is kept of each field the sender chose: enough for ids and types, no more.
_SHOWN_LENGTH = 100


async def receive(
    shop: DemoShop, database: Database, body: bytes, headers: Mapping[str, str]
) -> Received:
    """Verify the delivery and keep what it says; `verified` says whether to believe it."""
    held = await signing_secrets(database, shop.endpoint_id) if shop.endpoint_id else []
    verified = any(_verifies(secret, body, headers) for secret in held)
    received = describe(body, headers, verified=verified)
    shop.inbox.add(received)
    log.info(
        "sandbox.demo_shop_received",
        webhook_id=received.webhook_id,
        type=received.type,
        verified=verified,
    )
    return received


def _verifies(secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether the body carries a valid signature by `secret`, made within five minutes."""
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError):
        # ValueError: the library's own parsing of malformed headers or a non-UTF-8 body.
        return False
    return True


def describe(body: bytes, headers: Mapping[str, str], *, verified: bool) -> Received:
    """What the page shows of a delivery: the event's type, its order and that object's
    status, from a body shaped `{"id", "type", "created_at", "data"}`; None for what a
    body does not say."""
    try:
        event = strict_json.loads(body)
    except strict_json.NotJson:
        event = None
    event = event if isinstance(event, dict) else {}
    data = event.get("data")
    data = data if isinstance(data, dict) else {}
    event_type = _text(event.get("type"))
    # Order events carry the order itself; refund and dispute events name theirs.
    order_id = _text(data.get("order_id")) or (
        _text(data.get("id")) if event_type and event_type.startswith("order.") else None
    )
    return Received(
        received_at=datetime.now(UTC),
        webhook_id=_text(headers.get("webhook-id")),
        type=event_type,
        order_id=order_id,
        status=_text(data.get("status")),
        verified=verified,
    )


def _text(value: Any) -> str | None:
    return value[:_SHOWN_LENGTH] if isinstance(value, str) and value else None
