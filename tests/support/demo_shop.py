"""Deliveries to the sandbox's demo shop, made as the service's sender makes them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from payments.merchant_events import signing
from payments.timestamps import FORMAT


def order_event(event_type: str = "order.paid", status: str = "paid", **data: Any) -> str:
    """A body for an order that need not exist: `{"id", "type", "created_at", "data"}`."""
    order = {"id": str(uuid.uuid4()), "status": status, **data}
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": event_type,
            "created_at": datetime.now(UTC).strftime(FORMAT),
            "data": order,
        }
    )


def signed(body: str, *secrets: str, at: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of `body`, signed by each of `secrets`."""
    event_id = json.loads(body)["id"]
    return signing.headers(event_id, body, secrets, at or datetime.now(UTC))
