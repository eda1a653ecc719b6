"""One reconciliation pass: what the provider knows and the service was never told.

Webhooks can be lost: an endpoint misconfigured for days, an outage longer than
Stripe's retries, a buyer who paid and closed the tab before verify ran. A pass
asks the provider instead:

1. Its events since a point in time, for the platform and for each seller's
   connected account (Stripe lists a direct charge's events only on that account).
   Each one not in `webhook_events` yet goes through `webhooks.events.handle_event`,
   exactly as if its webhook had arrived: the same dedupe table, the same
   `confirm_payment`, the same refund and dispute code. Recorded events are sorted
   out first with one look-up per page; per account, the rest are applied oldest
   first, the order Stripe created them in.
2. Refund and dispute events recorded before their payment's own event
   (`unknown_payment`) whose payment an order now has: fetched again and applied.
3. The orders still open (pending or processing) past their checkout's expiry
   (`checkout_expires_at`; 24 hours after `created_at` for orders made before it was
   kept): their sessions are fetched and what they say is applied like verify does
   (`checkout.service.confirm_signal`), as a webhook would (`ConfirmedVia.WEBHOOK`).
   This finds payments whose events are older than the window, or could not be listed.

Nothing here decides anything: dedupe and guarded transitions make a pass safe to run
at any time, twice, or alongside webhooks and verify. A failure (the provider
unreachable, the database busy, `RefundsInFlight`) is logged and counted, and the pass
goes on with the next event; what failed stays unrecorded, so the next pass tries again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import structlog
from sqlalchemy import and_, or_, select

from payments.checkout.service import confirm_signal
from payments.db import Database, database_time_after
from payments.errors import PaymentsError
from payments.models import ConfirmedVia, Order, OrderStatus, Seller, WebhookEvent
from payments.orders.states import OPEN
from payments.providers.base import (
    PaymentSignal,
    ProviderEvent,
    ProviderRejected,
    ProviderUnavailable,
)
from payments.webhooks.events import (
    DUPLICATE,
    UNKNOWN_PAYMENT,
    Endpoint,
    adopt,
    handle_event,
    orphans_with_an_order,
)

log = structlog.get_logger(__name__)

# Stripe keeps events for 30 days; older ones cannot be listed.
EVENT_RETENTION = timedelta(days=30)
# How long a checkout stays open when the order does not say (orders made before
# `checkout_expires_at` was kept): Stripe's default and longest session lifetime.
DEFAULT_CHECKOUT_LIFETIME = timedelta(hours=24)
# Recorded events are looked up this many at a time (a page of Stripe's list).
_LOOKUP_BATCH = 100
# Failures a person can act on (the provider, the database, a refund in flight): logged
# as they are. Anything else is a bug and is logged with its traceback.
_EXPECTED = (ProviderUnavailable, ProviderRejected, PaymentsError)


class EventSource(Protocol):
    """What a pass needs of a provider (`providers.stripe.StripeProvider` is one)."""

    name: str

    def list_events(
        self, *, account: str | None, created_gte: int, types: list[str]
    ) -> AsyncIterator[ProviderEvent]: ...

    async def fetch_checkout(self, session_id: str, *, account: str | None) -> PaymentSignal: ...

    async def retrieve_event(self, event_id: str, *, account: str | None) -> ProviderEvent: ...


class Progress(Protocol):
    """Told of each item as it is found and as it is done (the CLI's progress bar)."""

    def found(self, count: int) -> None: ...

    def done(self, count: int) -> None: ...


class _Silent:
    def found(self, count: int) -> None:
        pass

    def done(self, count: int) -> None:
        pass


@dataclass
class Summary:
    """What a pass did, as `payments reconcile` prints it.

    `seen`: events listed plus open orders checked. `recorded_before`: events already in
    `webhook_events` (by the look-up, or found so by `handle_event`). `applied`: events
    recorded by this pass, whatever they did to their order, plus orders whose status the
    session check moved. `failed`: events or order checks whose handling raised, and
    accounts whose events could not all be listed. An order checked and found unchanged
    (still settling, say) is only in `seen`.
    """

    seen: int = 0
    recorded_before: int = 0
    applied: int = 0
    failed: int = 0

    def line(self) -> str:
        return (
            f"seen={self.seen} recorded_before={self.recorded_before} "
            f"applied={self.applied} failed={self.failed}"
        )


@dataclass(frozen=True)
class Reconciled:
    """A pass's summary, and which accounts' events it listed and handled without a failure
    (their window may move on; `None` is the platform)."""

    summary: Summary
    accounts: tuple[str | None, ...]
    failed_accounts: frozenset[str | None] = field(default_factory=frozenset)


async def reconcile(
    database: Database,
    provider: EventSource,
    *,
    created_gte: Callable[[str | None], int],
    types: Sequence[str],
    livemode: bool,
    progress: Progress | None = None,
) -> Reconciled:
    """Run one pass: every account's unrecorded events since `created_gte(account)` (unix
    seconds), then the open orders past their checkout's expiry. Never raises for one
    event or order: each failure is logged and counted, and the pass goes on."""
    started = time.monotonic()
    progress = progress or _Silent()
    summary = Summary()
    accounts: tuple[str | None, ...] = (None, *await _seller_accounts(database))
    failed_accounts = set()
    for account in accounts:
        failed_before = summary.failed
        await _reconcile_account(
            database,
            provider,
            account,
            created_gte=created_gte(account),
            types=sorted(types),
            livemode=livemode,
            summary=summary,
            progress=progress,
        )
        if summary.failed > failed_before:
            failed_accounts.add(account)
    await _adopt_orphans(database, provider, summary, progress)
    await _check_expired_orders(database, provider, summary, progress)
    log.info(
        "reconcile.finished",
        seen=summary.seen,
        recorded_before=summary.recorded_before,
        applied=summary.applied,
        failed=summary.failed,
        accounts=len(accounts),
        seconds=round(time.monotonic() - started, 3),
    )
    return Reconciled(summary, accounts, frozenset(failed_accounts))


async def _seller_accounts(database: Database) -> list[str]:
    async with database.reading() as session:
        found = await session.execute(
            select(Seller.stripe_account_id).order_by(Seller.stripe_account_id)
        )
        return list(found.scalars())


async def _reconcile_account(
    database: Database,
    provider: EventSource,
    account: str | None,
    *,
    created_gte: int,
    types: list[str],
    livemode: bool,
    summary: Summary,
    progress: Progress,
) -> None:
    """List the account's events, then apply the unrecorded ones, oldest first. A listing
    that fails half-way still applies what it got, and counts one failure."""
    unrecorded: list[ProviderEvent] = []
    page: list[ProviderEvent] = []
    try:
        async for event in provider.list_events(
            account=account, created_gte=created_gte, types=types
        ):
            summary.seen += 1
            progress.found(1)
            page.append(event)
            if len(page) == _LOOKUP_BATCH:
                unrecorded += await _unrecorded(database, provider.name, page, summary, progress)
                page = []
        unrecorded += await _unrecorded(database, provider.name, page, summary, progress)
    except Exception as exc:
        summary.failed += 1
        _log_failure("reconcile.listing_failed", exc, account=account)
    # Stripe lists newest first: apply in the order the events happened.
    for event in reversed(unrecorded):
        try:
            outcome = await handle_event(
                database,
                event,
                provider=provider.name,
                endpoint=Endpoint.CONNECT if event.account else Endpoint.PLATFORM,
                livemode=livemode,
            )
        except Exception as exc:
            summary.failed += 1
            _log_failure(
                "reconcile.event_failed", exc, event_id=event.id, type=event.type, account=account
            )
        else:
            if outcome == DUPLICATE:  # a webhook (or another pass) recorded it meanwhile
                summary.recorded_before += 1
            else:
                summary.applied += 1
                log.info("reconcile.event_applied", event_id=event.id, type=event.type)
        progress.done(1)


async def _adopt_orphans(
    database: Database, provider: EventSource, summary: Summary, progress: Progress
) -> None:
    """Refund and dispute events that came before their payment's own event were recorded
    as `unknown_payment`; once an order has that payment, each is fetched again and
    applied (`webhooks.events.adopt`), once."""
    found = await orphans_with_an_order(database, provider=provider.name)
    summary.seen += len(found)
    progress.found(len(found))
    for event_id, account in found:
        try:
            event = await provider.retrieve_event(event_id, account=account)
            outcome = await adopt(database, event, provider=provider.name)
        except Exception as exc:
            summary.failed += 1
            _log_failure("reconcile.adopt_failed", exc, event_id=event_id, account=account)
        else:
            if outcome not in (DUPLICATE, UNKNOWN_PAYMENT):
                summary.applied += 1
        progress.done(1)


async def _unrecorded(
    database: Database,
    provider: str,
    events: list[ProviderEvent],
    summary: Summary,
    progress: Progress,
) -> list[ProviderEvent]:
    """The events not in `webhook_events` yet, in the order given; one query for all."""
    if not events:
        return []
    async with database.reading() as session:
        found = await session.execute(
            select(WebhookEvent.event_id).where(
                WebhookEvent.provider == provider,
                WebhookEvent.event_id.in_([event.id for event in events]),
            )
        )
        recorded = set(found.scalars())
    summary.recorded_before += len(recorded)
    progress.done(len(recorded))
    return [event for event in events if event.id not in recorded]


@dataclass(frozen=True)
class _OpenOrder:
    id: uuid.UUID
    session_id: str
    account: str | None
    status: OrderStatus


async def _check_expired_orders(
    database: Database, provider: EventSource, summary: Summary, progress: Progress
) -> None:
    """Ask the provider about each order still open past its checkout's expiry, and apply
    the answer. The expiry is compared on the database's clock, which replicas share."""
    try:
        orders = await _open_past_expiry(database)
    except Exception as exc:
        summary.failed += 1
        _log_failure("reconcile.orders_failed", exc)
        return
    summary.seen += len(orders)
    progress.found(len(orders))
    for order in orders:
        try:
            signal = await provider.fetch_checkout(order.session_id, account=order.account)
            confirmed = await confirm_signal(database, signal, via=ConfirmedVia.WEBHOOK)
        except Exception as exc:
            summary.failed += 1
            _log_failure("reconcile.order_failed", exc, order_id=str(order.id))
        else:
            if confirmed.status is not None and confirmed.status != order.status:
                summary.applied += 1
                log.info(
                    "reconcile.order_settled",
                    order_id=str(order.id),
                    status=confirmed.status,
                    was=order.status,
                )
        progress.done(1)


async def _open_past_expiry(database: Database) -> list[_OpenOrder]:
    async with database.reading() as session:
        now = database_time_after(session, timedelta(0))
        day_ago = database_time_after(session, -DEFAULT_CHECKOUT_LIFETIME)
        rows = await session.execute(
            select(Order.id, Order.provider_session_id, Order.provider_account, Order.status)
            .where(
                Order.status.in_(OPEN),
                # An order with no session never reached the provider: nothing to ask.
                Order.provider_session_id.is_not(None),
                or_(
                    Order.checkout_expires_at < now,
                    and_(Order.checkout_expires_at.is_(None), Order.created_at < day_ago),
                ),
            )
            .order_by(Order.created_at, Order.id)
        )
        return [
            _OpenOrder(
                row.id, row.provider_session_id, row.provider_account, OrderStatus(row.status)
            )
            for row in rows
        ]


def _log_failure(event: str, exc: Exception, **fields: object) -> None:
    """One line per failure: what failed and why, never a payload or a secret. Our own
    errors carry safe messages (the provider's error type and code); a bug gets its
    traceback."""
    if isinstance(exc, _EXPECTED):
        log.warning(event, error=type(exc).__name__, detail=str(exc), **fields)
    else:
        log.exception(event, error=type(exc).__name__, **fields)
