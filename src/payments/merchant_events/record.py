"""Writing the shop's events in the transaction of the change they report.

Services say what changed as they change it (`order_changed`, `refund_changed`,
`dispute_changed`). The events are written once, just before the transaction commits
(`Database.transaction` runs the step), each with its object as it is then: a change
that rolls back writes nothing, and an object changed several times in one transaction
(a sync applying two refunds to one order) is told once, by the event of its last
change: the states in between were never committed. Each event gets one delivery per
endpoint subscribed to its type, in the same transaction; with no such endpoint nothing
is written.

The one-statement payment path (orders.paid_at_once) writes its `order.paid` in SQL,
with the same rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import BEFORE_COMMIT, EVENTS_WRITTEN
from payments.merchant_events import render, repository
from payments.merchant_events.types import EventType, wants
from payments.models import OrderStatus

_CHANGES = "merchant_events"

# The order statuses the shop is told about, by the event that says so. A status an order
# goes back to (paid again after a refund failed) is told by the refund's event instead.
ORDER_EVENT = {
    OrderStatus.PAID: EventType.ORDER_PAID,
    OrderStatus.PROCESSING: EventType.ORDER_PROCESSING,
    OrderStatus.FAILED: EventType.ORDER_FAILED,
    OrderStatus.EXPIRED: EventType.ORDER_EXPIRED,
    OrderStatus.REFUNDED: EventType.ORDER_REFUNDED,
    OrderStatus.PARTIALLY_REFUNDED: EventType.ORDER_PARTIALLY_REFUNDED,
}


class _Kind(StrEnum):
    ORDER = "order"
    REFUND = "refund"
    DISPUTE = "dispute"


@dataclass(frozen=True)
class _Change:
    type: EventType
    kind: _Kind
    object_id: uuid.UUID
    order_id: uuid.UUID


_RENDER: dict[_Kind, Callable[[AsyncSession, uuid.UUID], Awaitable[str]]] = {
    _Kind.ORDER: render.order_data,
    _Kind.REFUND: render.refund_data,
    _Kind.DISPUTE: render.dispute_data,
}


def order_changed(session: AsyncSession, order_id: uuid.UUID, status: OrderStatus) -> None:
    """The order moved to `status` in this transaction (a guarded change that happened)."""
    event_type = ORDER_EVENT.get(status)
    if event_type is not None:
        _note(session, _Change(event_type, _Kind.ORDER, order_id, order_id))


def refund_changed(
    session: AsyncSession, refund_id: uuid.UUID, order_id: uuid.UUID, event_type: EventType
) -> None:
    _note(session, _Change(event_type, _Kind.REFUND, refund_id, order_id))


def dispute_changed(
    session: AsyncSession, dispute_id: uuid.UUID, order_id: uuid.UUID, event_type: EventType
) -> None:
    _note(session, _Change(event_type, _Kind.DISPUTE, dispute_id, order_id))


def _note(session: AsyncSession, change: _Change) -> None:
    changes: dict[tuple[_Kind, uuid.UUID], _Change] = session.info.setdefault(_CHANGES, {})
    changes.pop((change.kind, change.object_id), None)  # the last change, in its place
    changes[(change.kind, change.object_id)] = change
    session.info.setdefault(BEFORE_COMMIT, {})[_CHANGES] = _write


async def _write(session: AsyncSession) -> None:
    changes = list(session.info.pop(_CHANGES, {}).values())
    endpoints = await repository.live_endpoints(session)
    for change in changes:
        targets = [endpoint.id for endpoint in endpoints if wants(endpoint.events, change.type)]
        if not targets:
            continue
        data = await _RENDER[change.kind](session, change.object_id)
        await repository.insert_event(
            session, event_type=change.type, order_id=change.order_id, data=data, to=targets
        )
        session.info[EVENTS_WRITTEN] = True
