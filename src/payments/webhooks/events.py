"""Webhook events: record each one once, then feed confirm_payment.

The event id is inserted first (primary key, ON CONFLICT DO NOTHING), in the
same transaction as its effects: a redelivery finds the row and does nothing,
and a failure rolls both back so the provider retries.
"""

from __future__ import annotations

from enum import StrEnum

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import Database, insert_for
from payments.models import ConfirmedVia, WebhookEvent
from payments.orders.confirm import confirm_payment
from payments.providers.base import ProviderEvent

log = structlog.get_logger(__name__)

_APPLIED = "applied"  # stored until the outcome says otherwise; saves a write on the hot path
_CHANGED_NOTES = frozenset({"paid", "processing", "failed", "expired", "out_of_stock"})


class Endpoint(StrEnum):
    PLATFORM = "platform"  # events of our own account
    CONNECT = "connect"  # events of connected accounts; each carries `account`


async def handle_event(
    database: Database, event: ProviderEvent, *, provider: str, endpoint: Endpoint, livemode: bool
) -> str:
    """Record a verified event once and apply it; returns what happened to it."""
    ignored = _ignore_reason(event, endpoint, livemode)
    async with database.transaction() as session:
        if not await _record(session, event, provider, endpoint, ignored or _APPLIED):
            log.info("webhook.duplicate", event_id=event.id, type=event.type)
            return "duplicate"
        if ignored or event.signal is None:
            log.info("webhook.ignored", event_id=event.id, type=event.type, reason=ignored)
            return ignored or "unhandled_type"
        result = await confirm_payment(session, event.signal, via=ConfirmedVia.WEBHOOK)
        if result.note not in _CHANGED_NOTES:
            await _set_outcome(session, provider, event.id, result.note)
    log.info("webhook.processed", event_id=event.id, type=event.type, outcome=result.note)
    return result.note


def _ignore_reason(event: ProviderEvent, endpoint: Endpoint, livemode: bool) -> str | None:
    if event.livemode != livemode:
        return "livemode_mismatch"
    if endpoint is Endpoint.CONNECT and not event.account:
        return "missing_account"
    if endpoint is Endpoint.PLATFORM and event.account:
        return "unexpected_account"
    if event.signal is None:
        return "unhandled_type"
    return None


async def _record(
    session: AsyncSession, event: ProviderEvent, provider: str, endpoint: Endpoint, outcome: str
) -> bool:
    """Insert the event id; False if it was already there. Only one concurrent delivery wins."""
    inserted = await session.execute(
        insert_for(session)(WebhookEvent)
        .values(
            provider=provider,
            event_id=event.id,
            endpoint=endpoint,
            type=event.type,
            account=event.account,
            livemode=event.livemode,
            outcome=outcome,
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(WebhookEvent.event_id)
    )
    return inserted.scalar_one_or_none() is not None


async def _set_outcome(session: AsyncSession, provider: str, event_id: str, outcome: str) -> None:
    await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.provider == provider, WebhookEvent.event_id == event_id)
        .values(outcome=outcome)
    )
