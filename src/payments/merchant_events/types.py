"""The events the shop can subscribe to, and which endpoint wants which."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

ALL = "*"


class EventType(StrEnum):
    ORDER_PAID = "order.paid"
    ORDER_PROCESSING = "order.processing"
    ORDER_FAILED = "order.failed"
    ORDER_EXPIRED = "order.expired"
    ORDER_REFUNDED = "order.refunded"
    ORDER_PARTIALLY_REFUNDED = "order.partially_refunded"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    DISPUTE_CREATED = "dispute.created"
    DISPUTE_CLOSED = "dispute.closed"


def wants(subscribed: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to `subscribed` receives `event_type`."""
    return ALL in subscribed or event_type in subscribed
