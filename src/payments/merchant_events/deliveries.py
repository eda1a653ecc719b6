"""The admin's view of deliveries, and the retry of a dead one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import EVENTS_WRITTEN, Database
from payments.errors import DeliveryNotDead, EndpointNotLive, NotFound
from payments.models import (
    DeliveryAttempt,
    DeliveryStatus,
    EventDelivery,
    MerchantEvent,
    WebhookEndpoint,
)

log = structlog.get_logger(__name__)


async def list_deliveries(
    session: AsyncSession,
    *,
    endpoint_id: uuid.UUID | None,
    status: DeliveryStatus | None,
    limit: int,
) -> Sequence[tuple[EventDelivery, str]]:
    """Deliveries newest first, each with its event's type."""
    stmt = (
        select(EventDelivery, MerchantEvent.type)
        .join(MerchantEvent, MerchantEvent.id == EventDelivery.event_id)
        .order_by(EventDelivery.created_at.desc(), EventDelivery.id.desc())
        .limit(limit)
    )
    if endpoint_id is not None:
        stmt = stmt.where(EventDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(EventDelivery.status == status)
    rows = await session.execute(stmt)
    return [(delivery, event_type) for delivery, event_type in rows]


async def get_delivery(
    session: AsyncSession, delivery_id: uuid.UUID
) -> tuple[EventDelivery, str, Sequence[DeliveryAttempt]]:
    """The delivery, its event's type and its attempts, newest first."""
    found = (
        await session.execute(
            select(EventDelivery, MerchantEvent.type)
            .join(MerchantEvent, MerchantEvent.id == EventDelivery.event_id)
            .where(EventDelivery.id == delivery_id)
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    attempts = await session.execute(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(DeliveryAttempt.attempted_at.desc(), DeliveryAttempt.id.desc())
    )
    delivery, event_type = found
    return delivery, event_type, attempts.scalars().all()


async def retry_delivery(database: Database, delivery_id: uuid.UUID) -> tuple[EventDelivery, str]:
    """Send a dead delivery again, now, on a fresh schedule: the same event, so the same
    `webhook-id`, and the receiver can tell it from a new one.

    Only a dead delivery to a live endpoint: one still being tried, or delivered, is
    refused (DeliveryNotDead), and so is one whose endpoint was disabled or deleted
    (EndpointNotLive). Both rows are locked, so an endpoint disabled meanwhile either
    comes first (refused) or ends this delivery again after it.
    """
    async with database.transaction() as session:
        found = (
            await session.execute(
                select(EventDelivery, MerchantEvent.type, WebhookEndpoint)
                .join(MerchantEvent, MerchantEvent.id == EventDelivery.event_id)
                .join(WebhookEndpoint, WebhookEndpoint.id == EventDelivery.endpoint_id)
                .where(EventDelivery.id == delivery_id)
                # NO KEY UPDATE: payments writing deliveries (a key share of the endpoint
                # row, for the foreign key) never wait for it.
                .with_for_update(of=(EventDelivery, WebhookEndpoint), key_share=True)
                .execution_options(populate_existing=True)
            )
        ).one_or_none()
        if found is None:
            raise NotFound(f"no webhook delivery {delivery_id}")
        delivery, event_type, endpoint = found
        if delivery.status != DeliveryStatus.DEAD:
            raise DeliveryNotDead(f"the delivery is {delivery.status}, not dead")
        if endpoint.deleted_at is not None or endpoint.disabled_at is not None:
            why = "deleted" if endpoint.deleted_at is not None else "disabled"
            raise EndpointNotLive(f"its endpoint {endpoint.id} is {why}")
        retried = (
            await session.execute(
                update(EventDelivery)
                .where(EventDelivery.id == delivery_id)
                .values(
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    claim=None,
                    next_attempt_at=func.now(),
                    updated_at=func.now(),
                )
                .returning(EventDelivery)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
        ).scalar_one()
        session.info[EVENTS_WRITTEN] = True  # the sender is woken after the commit
    log.info(
        "merchant_event.retried",
        delivery_id=str(delivery_id),
        event_id=retried.event_id,
        endpoint_id=str(retried.endpoint_id),
    )
    return retried, event_type
