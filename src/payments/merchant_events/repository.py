"""Endpoints, events and deliveries in the database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import DeliveryStatus, EventDelivery, MerchantEvent, WebhookEndpoint


def new_event_id() -> str:
    """`evt_` and 32 hex digits: the body's `id` and the `webhook-id` of every delivery."""
    return f"evt_{uuid.uuid4().hex}"


async def live_endpoints(session: AsyncSession) -> Sequence[WebhookEndpoint]:
    """The endpoints that get new events: neither deleted nor disabled."""
    rows = await session.execute(
        select(WebhookEndpoint).where(
            WebhookEndpoint.deleted_at.is_(None), WebhookEndpoint.disabled_at.is_(None)
        )
    )
    return rows.scalars().all()


async def insert_event(
    session: AsyncSession,
    *,
    event_type: str,
    order_id: uuid.UUID,
    data: str,
    to: Sequence[uuid.UUID],
) -> str:
    """The event and one pending delivery of it to each endpoint in `to`."""
    event_id = new_event_id()
    await session.execute(
        insert(MerchantEvent).values(id=event_id, type=event_type, order_id=order_id, data=data)
    )
    await session.execute(
        insert(EventDelivery),
        [
            {
                "id": uuid.uuid4(),
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "status": DeliveryStatus.PENDING,
            }
            for endpoint_id in to
        ],
    )
    return event_id
