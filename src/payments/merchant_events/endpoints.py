"""The shop's endpoints: added, listed, changed, deleted, their secrets rotated."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import Database, database_time_after
from payments.errors import NotFound
from payments.merchant_events import signing
from payments.merchant_events.urls import check_url
from payments.models import DeliveryStatus, EventDelivery, WebhookEndpoint

log = structlog.get_logger(__name__)

# How long the secret before a rotation keeps signing beside the new one.
ROTATION_OVERLAP = timedelta(hours=24)


async def create_endpoint(
    database: Database,
    *,
    url: str,
    events: Sequence[str],
    description: str | None,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown to the caller once). It gets the events
    of changes committed after it was created."""
    check_url(url, allow_private=allow_private)
    secret = signing.new_secret()
    async with database.transaction() as session:
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(), url=url, events=list(events), description=description, secret=secret
        )
        session.add(endpoint)
        await session.flush()
        await session.refresh(endpoint)
    log.info("endpoint.created", endpoint_id=str(endpoint.id), events=list(events))
    return endpoint, secret


async def list_endpoints(database: Database) -> Sequence[WebhookEndpoint]:
    async with database.reading() as session:
        rows = await session.execute(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.deleted_at.is_(None))
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
        return rows.scalars().all()


async def get_endpoint(database: Database, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    async with database.reading() as session:
        return await _live(session, endpoint_id)


async def update_endpoint(
    database: Database, endpoint_id: uuid.UUID, changes: dict[str, Any], *, allow_private: bool
) -> WebhookEndpoint:
    """Change what was sent (`url`, `events`, `description`, `enabled`). Disabling one ends
    its deliveries still to go (dead: an admin may retry them); enabling it again sends it
    new events, not what it missed meanwhile."""
    if "url" in changes:
        check_url(changes["url"], allow_private=allow_private)
    values: dict[str, Any] = {
        name: changes[name] for name in ("url", "events", "description") if name in changes
    }
    if "enabled" in changes:
        enabled = changes["enabled"]
        values["disabled_at"] = (
            None if enabled else func.coalesce(WebhookEndpoint.disabled_at, func.now())
        )
        values["disabled_reason"] = None if enabled else "disabled by an admin"
    async with database.transaction() as session:
        await _live(session, endpoint_id, lock=True)
        if values:
            await session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(updated_at=func.now(), **values)
                .execution_options(synchronize_session=False)
            )
        if changes.get("enabled") is False:
            await end_open_deliveries(session, endpoint_id, "the endpoint was disabled")
        endpoint = await _live(session, endpoint_id)
    log.info("endpoint.updated", endpoint_id=str(endpoint_id), changed=sorted(changes))
    return endpoint


async def delete_endpoint(database: Database, endpoint_id: uuid.UUID) -> None:
    """Stop sending to it: its deliveries still to go are dead. Its history stays readable
    in `GET /admin/webhook-deliveries`."""
    async with database.transaction() as session:
        await _live(session, endpoint_id, lock=True)
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(deleted_at=func.now(), updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        await end_open_deliveries(session, endpoint_id, "the endpoint was deleted")
    log.info("endpoint.deleted", endpoint_id=str(endpoint_id))


async def rotate_secret(database: Database, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """A new secret; the current one keeps signing beside it for ROTATION_OVERLAP. Rotating
    again within that time ends the oldest at once: only two secrets ever sign."""
    secret = signing.new_secret()
    async with database.transaction() as session:
        await _live(session, endpoint_id, lock=True)
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(
                previous_secret=WebhookEndpoint.secret,
                previous_secret_expires_at=database_time_after(session, ROTATION_OVERLAP),
                secret=secret,
                updated_at=func.now(),
            )
            .execution_options(synchronize_session=False)
        )
        endpoint = await _live(session, endpoint_id)
    log.info("endpoint.secret_rotated", endpoint_id=str(endpoint_id))
    return endpoint


async def end_open_deliveries(session: AsyncSession, endpoint_id: uuid.UUID, why: str) -> None:
    """The endpoint's deliveries still to be sent die (an admin may retry them later).
    One being sent right now records its outcome; if it failed, the sender ends it at its
    next claim."""
    await session.execute(
        update(EventDelivery)
        .where(
            EventDelivery.endpoint_id == endpoint_id,
            EventDelivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.FAILED)),
            EventDelivery.claim.is_(None),
        )
        .values(
            status=DeliveryStatus.DEAD,
            next_attempt_at=None,
            claim=None,
            last_error=why,
            updated_at=func.now(),
        )
        .execution_options(synchronize_session=False)
    )


async def _live(
    session: AsyncSession, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.deleted_at.is_(None))
        .execution_options(populate_existing=True)
    )
    if lock:
        # NO KEY UPDATE: payments writing deliveries to it (a key share of this row, for the
        # foreign key) never wait for an admin changing it.
        stmt = stmt.with_for_update(key_share=True)
    endpoint = (await session.execute(stmt)).scalar_one_or_none()
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint
