"""Webhook events: apply each one (a checkout through confirm_payment, a refund or a
dispute through theirs) and record it once.

The event id is looked up first, so a redelivery costs one read and changes
nothing. Otherwise the event is applied and its id inserted (primary key, ON
CONFLICT DO NOTHING) in one transaction: a failure rolls both back, and the
provider retries. Concurrent deliveries of one event meet at the order's row lock
and at the primary key: only one of them changes anything. The id is inserted
last so that every path takes its locks in one order (the order, its products,
the event id) and two deliveries of one event never deadlock each other.

A payment for an order that allows it, the common case, and its redeliveries,
take one round trip on Postgres (`orders.paid_at_once`, the same steps in one
statement); everything else, and SQLite, takes the general path.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import Database, database_time_after, insert_for
from payments.disputes import service as disputes
from payments.models import ConfirmedVia, Order, WebhookEvent
from payments.orders import paid_at_once
from payments.orders.confirm import Result, confirm_payment
from payments.providers.base import ChargeRefunds, ProviderEvent
from payments.refunds import repository as refund_rows
from payments.refunds import service as refunds

log = structlog.get_logger(__name__)


class Endpoint(StrEnum):
    PLATFORM = "platform"  # events of our own account
    CONNECT = "connect"  # events of connected accounts; each carries `account`


class Ignored(StrEnum):
    """Validly signed events that must not touch an order; recorded all the same."""

    LIVEMODE_MISMATCH = "livemode_mismatch"
    MISSING_ACCOUNT = "missing_account"
    UNEXPECTED_ACCOUNT = "unexpected_account"
    UNHANDLED_TYPE = "unhandled_type"
    UNUSABLE = "unusable_event"


DUPLICATE = "duplicate"
UNKNOWN_PAYMENT = "unknown_payment"  # a refund or dispute of a payment no order has (yet)


async def handle_event(
    database: Database, event: ProviderEvent, *, provider: str, endpoint: Endpoint, livemode: bool
) -> str:
    """Apply a verified event once and record it; returns what happened to it."""
    ignored = _ignore_reason(event, endpoint, livemode)
    if ignored is None:
        outcome = await _paid_at_once(database, event, provider, endpoint)
        if outcome is not None:
            return outcome
    if await _recorded(database, provider, event.id):
        log.info("webhook.duplicate", event_id=event.id, type=event.type)
        return DUPLICATE
    async with database.transaction() as session:
        if ignored is not None:
            outcome = ignored
        elif event.signal is not None:
            confirmed = await confirm_payment(session, event.signal, via=ConfirmedVia.WEBHOOK)
            outcome = confirmed.result
        else:
            outcome = await _after_payment(session, event)
        if not await _record(
            session, event, provider, endpoint, outcome, _orphan_of(event, outcome)
        ):
            log.info("webhook.duplicate", event_id=event.id, type=event.type)
            return DUPLICATE
    log.info("webhook.processed", event_id=event.id, type=event.type, outcome=outcome)
    return outcome


async def _paid_at_once(
    database: Database, event: ProviderEvent, provider: str, endpoint: Endpoint
) -> str | None:
    """The common case in one round trip (Postgres); None when the general path must decide."""
    if event.signal is None:
        return None
    record = paid_at_once.EventToRecord(provider, event.id, endpoint, event.type, event.livemode)
    done = await paid_at_once.confirm_paid(
        database, event.signal, via=ConfirmedVia.WEBHOOK, event=record
    )
    if done.duplicate:
        log.info("webhook.duplicate", event_id=event.id, type=event.type)
        return DUPLICATE
    if done.order_id is None:
        return None
    outcome = Result.PAID if done.paid_now else Result.ALREADY_PROCESSED
    log.info("webhook.processed", event_id=event.id, type=event.type, outcome=outcome)
    return outcome


def _ignore_reason(event: ProviderEvent, endpoint: Endpoint, livemode: bool) -> Ignored | None:
    if event.livemode != livemode:
        return Ignored.LIVEMODE_MISMATCH
    if endpoint is Endpoint.CONNECT and not event.account:
        return Ignored.MISSING_ACCOUNT
    if endpoint is Endpoint.PLATFORM and event.account:
        return Ignored.UNEXPECTED_ACCOUNT
    if event.problem is not None:
        log.warning("webhook.unusable", event_id=event.id, type=event.type, problem=event.problem)
        return Ignored.UNUSABLE
    if not (event.signal or event.refund or event.charge_refunds or event.dispute):
        return Ignored.UNHANDLED_TYPE
    return None


async def _after_payment(session: AsyncSession, event: ProviderEvent) -> str:
    """Refunds and disputes of a payment, on the order that payment belongs to (on the
    event's account only: a direct charge's refunds arrive on the Connect endpoint)."""
    if event.dispute is not None:
        return await disputes.apply(session, event.dispute)
    subject = event.refund or event.charge_refunds
    if subject is None or subject.payment_id is None:
        return Ignored.UNHANDLED_TYPE
    order = await refund_rows.lock_order_of_payment(session, subject.payment_id, event.account)
    if order is None:
        return refunds.Applied.UNKNOWN_PAYMENT
    if isinstance(subject, ChargeRefunds):
        return await refunds.note_charge_refunds(session, order, subject, event_id=event.id)
    return await refunds.apply(session, order, subject)


async def _recorded(database: Database, provider: str, event_id: str) -> bool:
    async with database.reading() as session:
        found = await session.execute(
            select(WebhookEvent.event_id).where(
                WebhookEvent.provider == provider, WebhookEvent.event_id == event_id
            )
        )
        return found.first() is not None


def _orphan_of(event: ProviderEvent, outcome: str) -> str | None:
    """The payment a refund or dispute event named, when no order of ours has it (yet)."""
    if outcome != UNKNOWN_PAYMENT:
        return None
    subject = event.refund or event.charge_refunds or event.dispute
    return subject.payment_id if subject is not None else None


class _AdoptedElsewhere(Exception):
    """Another pass adopted the event first: this one's changes are rolled back."""


async def adopt(database: Database, event: ProviderEvent, *, provider: str) -> str:
    """Apply a refund or dispute event recorded as `unknown_payment` now that an order has
    its payment (it came before the payment's own event), once: the event's row is moved
    to the new outcome in the same transaction, after the order's lock (one lock order)."""
    try:
        async with database.transaction() as session:
            outcome = await _after_payment(session, event)
            if outcome == UNKNOWN_PAYMENT:
                return outcome
            adopted = await session.execute(
                update(WebhookEvent)
                .where(
                    WebhookEvent.provider == provider,
                    WebhookEvent.event_id == event.id,
                    WebhookEvent.outcome == UNKNOWN_PAYMENT,
                )
                .values(outcome=outcome)
                .returning(WebhookEvent.event_id)
            )
            if adopted.scalar_one_or_none() is None:
                raise _AdoptedElsewhere
    except _AdoptedElsewhere:
        return DUPLICATE
    log.info("webhook.adopted", event_id=event.id, type=event.type, outcome=outcome)
    return outcome


async def orphans_with_an_order(
    database: Database, *, provider: str, limit: int = 1000
) -> list[tuple[str, str | None]]:
    """(event id, account) of the `unknown_payment` events whose payment an order now has,
    on the same account: reconciliation fetches and adopts them."""
    async with database.reading() as session:
        found = await session.execute(
            select(WebhookEvent.event_id, WebhookEvent.account)
            .join(
                Order,
                (Order.provider_payment_id == WebhookEvent.payment_id)
                & Order.provider_account.is_not_distinct_from(WebhookEvent.account),
            )
            .where(
                WebhookEvent.provider == provider,
                WebhookEvent.outcome == UNKNOWN_PAYMENT,
                # Stripe keeps events for 30 days: older ones cannot be fetched again.
                WebhookEvent.received_at > database_time_after(session, -timedelta(days=30)),
            )
            .order_by(WebhookEvent.received_at)
            .limit(limit)
        )
        return [(event_id, account) for event_id, account in found.all()]


async def _record(
    session: AsyncSession,
    event: ProviderEvent,
    provider: str,
    endpoint: Endpoint,
    outcome: str,
    payment_id: str | None = None,
) -> bool:
    """Insert the event id; False if it was there already. Only one delivery wins: a
    concurrent one waits here for the first to commit, then finds it."""
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
            payment_id=payment_id,
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(WebhookEvent.event_id)
    )
    return inserted.scalar_one_or_none() is not None
