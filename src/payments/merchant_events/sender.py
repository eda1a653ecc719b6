"""Sending the shop's events: each delivery POSTed, signed, until it succeeds or dies.

Deliveries wait in `event_deliveries`, written in the transaction of the change they
report. The sender claims one due delivery at a time (several replicas may run it:
claims skip rows another one holds), POSTs it with no database connection held, and
records what came of it; a failure is tried again on the schedule
(payments.merchant_events.schedule) until the last attempt, then it is dead.

A claim is a lease, as in the outbox: it sets a new `claim` token and moves
`next_attempt_at` past the lease, so a sender that dies mid-POST loses the delivery to
the next claim once the lease runs out. The outcome is recorded only while the token is
still the delivery's (`WHERE claim = mine`): a sender that outlived its lease records
nothing. Leases and retry times are on the database's clock, which all replicas share.
A receiver may so get a delivery twice (a sender died after the POST): the `webhook-id`
is the same each time, and Standard Webhooks receivers deduplicate on it.

At most `concurrency` POSTs are in flight in the process, and at most `per_endpoint` to
one endpoint: a claim skips the endpoints at their cap, so a slow or failing endpoint
holds its own slots and never delays the others'.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import TypeAdapter
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import Database, database_time_after
from payments.errors import DatabaseUnavailable
from payments.merchant_events import endpoints, render, schedule, signing
from payments.merchant_events.transport import Answer, Transport
from payments.merchant_events.types import wants
from payments.models import (
    DeliveryAttempt,
    DeliveryStatus,
    EventDelivery,
    MerchantEvent,
    WebhookEndpoint,
)
from payments.timestamps import Timestamp

log = structlog.get_logger(__name__)

OPEN = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
# Written out, not bound: the planner uses the partial index of due deliveries
# (ix_event_deliveries_due) only when the query repeats its predicate as literals.
_IS_OPEN = text(
    "event_deliveries.status IN ({})".format(", ".join(f"'{status.value}'" for status in OPEN))
)
_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


@dataclass(frozen=True)
class _Claimed:
    """One delivery leased to this sender, with all it needs to POST it."""

    delivery_id: uuid.UUID
    claim: uuid.UUID
    attempt: int  # this attempt's number in the delivery's current round, from 1
    event_id: str
    endpoint_id: uuid.UUID
    url: str
    body: str | None  # None: the event could not be rendered (a bug, logged)
    secrets: Sequence[str]


def event_body(event: MerchantEvent, data: str) -> str:
    """The JSON POSTed: the event's id, type and time, and its `data` exactly as stored."""
    created_at = _TIMESTAMP.dump_json(_TIMESTAMP.validate_python(event.created_at)).decode()
    return (
        f'{{"id":{json.dumps(event.id)},"type":{json.dumps(event.type)},'
        f'"created_at":{created_at},"data":{data}}}'
    )


class EventSender:
    def __init__(
        self,
        database: Database,
        *,
        allow_private: bool,
        timeout_seconds: float,
        concurrency: int,
        per_endpoint: int,
        poll_seconds: float = 5.0,
        lease: timedelta | None = None,
    ) -> None:
        """`lease` should outlast one POST (the timeout, which bounds it whole): by default
        the timeout and a minute more."""
        self._database = database
        self._transport = Transport(
            allow_private=allow_private, timeout_seconds=timeout_seconds, connections=concurrency
        )
        self._concurrency = concurrency
        self._per_endpoint = per_endpoint
        self._poll_seconds = poll_seconds
        self._lease = lease or timedelta(seconds=timeout_seconds + 60)
        self._wake = asyncio.Event()
        # The endpoints that were at their cap when a claim last found nothing else due:
        # with the same ones at their cap, nothing else is due until a commit wakes the
        # sender or a poll comes round, so the claim (a walk over every due delivery of
        # those endpoints) is not made again each time a slot frees.
        self._nothing_else_due: frozenset[uuid.UUID] | None = None
        self._dispatching = asyncio.Lock()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._by_endpoint: Counter[uuid.UUID] = Counter()

    def wake(self) -> None:
        self._nothing_else_due = None
        self._wake.set()

    async def run(self) -> None:
        """Send due deliveries until cancelled; woken at once after a commit that wrote
        events, and when a POST ends (its slot is free)."""
        while True:
            self._wake.clear()  # before dispatching, so a wake meanwhile is not lost
            try:
                await self._dispatch()
            except DatabaseUnavailable:
                # An outage, already logged by `Database`; the deliveries wait in the table.
                log.warning("merchant_events.paused", retry_in_seconds=self._poll_seconds)
            except Exception:  # a bug: its traceback is logged, and the loop stays alive
                log.exception("merchant_events.dispatch_failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
            except TimeoutError:
                self._nothing_else_due = None  # retries may have come due meanwhile

    async def drain(self) -> int:
        """Send every delivery due now and wait for the outcomes; how many were attempted.
        (What fails is due again later, on the schedule, so this ends.)"""
        attempted = 0
        self._nothing_else_due = None
        while True:
            attempted += await self._dispatch()
            if not self._in_flight:
                return attempted
            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)

    async def aclose(self) -> None:
        """Stop the POSTs in flight (their leases run out and they are sent again) and
        close the clients."""
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self._transport.aclose()

    async def _dispatch(self) -> int:
        """Claim and start due deliveries while there are free slots; how many started."""
        started = 0
        async with self._dispatching:
            while len(self._in_flight) < self._concurrency:
                full = frozenset(e for e, n in self._by_endpoint.items() if n >= self._per_endpoint)
                if full and full == self._nothing_else_due:
                    break
                claimed = await self._claim(list(full))
                if claimed is None:
                    self._nothing_else_due = full
                    break
                if isinstance(claimed, _Ended):
                    continue
                self._start(claimed)
                started += 1
        return started

    def _start(self, claimed: _Claimed) -> None:
        self._by_endpoint[claimed.endpoint_id] += 1
        task = asyncio.create_task(self._deliver(claimed))
        self._in_flight.add(task)

        def done(_: asyncio.Task[None]) -> None:
            self._in_flight.discard(task)
            self._by_endpoint[claimed.endpoint_id] -= 1
            if self._by_endpoint[claimed.endpoint_id] <= 0:
                del self._by_endpoint[claimed.endpoint_id]
            self._wake.set()  # a slot is free: the loop claims again

        task.add_done_callback(done)

    async def _claim(self, full: Sequence[uuid.UUID]) -> _Claimed | _Ended | None:
        """Lease the next due delivery (to an endpoint not at its cap) to this sender, and
        read what sending it needs; its event's `data` is rendered and stored if missing.

        A delivery its endpoint no longer takes (deleted or disabled, or no longer
        subscribed to its type, while the delivery was being written) dies here: _ENDED.
        """
        due = (
            select(EventDelivery.id)
            .where(
                _IS_OPEN,
                EventDelivery.next_attempt_at <= func.now(),
                EventDelivery.endpoint_id.not_in(full),
            )
            .order_by(EventDelivery.next_attempt_at)
            .limit(1)
            .with_for_update(of=EventDelivery, skip_locked=True)
            .scalar_subquery()
        )
        token = uuid.uuid4()
        async with self._database.transaction() as session:
            delivery = (
                await session.execute(
                    update(EventDelivery)
                    .where(EventDelivery.id == due)
                    .values(claim=token, next_attempt_at=database_time_after(session, self._lease))
                    .returning(EventDelivery)
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one_or_none()
            if delivery is None:
                return None
            event, endpoint, previous_valid = (
                await session.execute(
                    select(
                        MerchantEvent,
                        WebhookEndpoint,
                        WebhookEndpoint.previous_secret_expires_at > func.now(),
                    )
                    .join(WebhookEndpoint, WebhookEndpoint.id == delivery.endpoint_id)
                    .where(MerchantEvent.id == delivery.event_id)
                )
            ).one()
            ended = _not_taken(endpoint, event.type)
            if ended is not None:
                await _end(session, delivery.id, token, ended)
                return _ENDED
            data = event.data if event.data is not None else await _render(session, event)
        secrets = [endpoint.secret]
        if endpoint.previous_secret and previous_valid:
            secrets.append(endpoint.previous_secret)
        return _Claimed(
            delivery_id=delivery.id,
            claim=token,
            attempt=delivery.attempts + 1,
            event_id=event.id,
            endpoint_id=endpoint.id,
            url=endpoint.url,
            body=None if data is None else event_body(event, data),
            secrets=secrets,
        )

    async def _deliver(self, claimed: _Claimed) -> None:
        at = datetime.now(UTC)
        try:
            if claimed.body is None:
                answer = Answer(None, "the event could not be rendered", 0)
            else:
                headers = signing.headers(claimed.event_id, claimed.body, claimed.secrets, at)
                answer = await self._transport.post(claimed.url, claimed.body.encode(), headers)
            await self._record(claimed, at, answer)
        except DatabaseUnavailable:
            # Already logged by `Database`: the lease runs out and the delivery is sent again.
            log.warning("merchant_event.unrecorded", delivery_id=str(claimed.delivery_id))
        except Exception as exc:
            # A bug: logged, and counted as a failed attempt, so that the delivery follows
            # the schedule (and dies) instead of being claimed again forever.
            log.exception("merchant_event.deliver_failed", delivery_id=str(claimed.delivery_id))
            with contextlib.suppress(Exception):
                failed = Answer(None, f"internal error: {type(exc).__name__}", 0)
                await self._record(claimed, at, failed)

    async def _record(self, claimed: _Claimed, at: datetime, answer: Answer) -> None:
        """Write the attempt and the delivery's new state, if this sender still holds the
        claim; after a 410 the endpoint is disabled and its other open deliveries die."""
        code = answer.status_code
        gone = code == 410
        error = answer.error or _failure(code)
        retry_in = None if error is None or gone else schedule.delay_after(claimed.attempt)
        if error is None:
            status = DeliveryStatus.SUCCEEDED
        elif retry_in is None:
            status = DeliveryStatus.DEAD
        else:
            status = DeliveryStatus.FAILED
        async with self._database.transaction() as session:
            held = await session.execute(
                update(EventDelivery)
                .where(
                    EventDelivery.id == claimed.delivery_id, EventDelivery.claim == claimed.claim
                )
                .values(
                    status=status,
                    attempts=EventDelivery.attempts + 1,
                    claim=None,
                    next_attempt_at=(
                        None if retry_in is None else database_time_after(session, retry_in)
                    ),
                    last_attempt_at=at,
                    last_status_code=code,
                    last_duration_ms=answer.duration_ms,
                    last_error=error,
                    delivered_at=func.now() if error is None else None,
                )
                .returning(EventDelivery.id)
                .execution_options(synchronize_session=False)
            )
            if held.scalar_one_or_none() is None:
                log.warning("merchant_event.claim_lost", **_ids(claimed))
                return
            await session.execute(
                insert(DeliveryAttempt).values(
                    delivery_id=claimed.delivery_id,
                    attempted_at=at,
                    status_code=code,
                    duration_ms=answer.duration_ms,
                    error=error,
                )
            )
            disabled = gone and await _disable(session, claimed.endpoint_id)
        if error is None:
            log.info("merchant_event.delivered", **_ids(claimed), status_code=code)
        elif status == DeliveryStatus.DEAD:
            log.warning("merchant_event.dead", **_ids(claimed), status_code=code, error=error)
        else:
            log.info(
                "merchant_event.failed",
                **_ids(claimed),
                status_code=code,
                error=error,
                retry_in_seconds=round(retry_in.total_seconds()) if retry_in else None,
            )
        if disabled:
            log.warning("endpoint.disabled", endpoint_id=str(claimed.endpoint_id), reason=_GONE)


_GONE = "it answered 410 Gone"


class _Ended:
    """A claimed delivery that died at once: its endpoint no longer takes it."""


_ENDED = _Ended()


def _not_taken(endpoint: WebhookEndpoint, event_type: str) -> str | None:
    """Why the endpoint no longer takes this event; None if it does."""
    if endpoint.deleted_at is not None:
        return "the endpoint was deleted"
    if endpoint.disabled_at is not None:
        return f"the endpoint was disabled: {endpoint.disabled_reason}"
    if not wants(endpoint.events, event_type):
        return f"the endpoint no longer takes {event_type}"
    return None


async def _end(session: AsyncSession, delivery_id: uuid.UUID, claim: uuid.UUID, why: str) -> None:
    await session.execute(
        update(EventDelivery)
        .where(EventDelivery.id == delivery_id, EventDelivery.claim == claim)
        .values(status=DeliveryStatus.DEAD, claim=None, next_attempt_at=None, last_error=why)
        .execution_options(synchronize_session=False)
    )


def _failure(status_code: int | None) -> str | None:
    """Why an answer is a failure, or None for a 2xx."""
    if status_code is None or 200 <= status_code < 300:
        return None
    if 300 <= status_code < 400:
        return f"redirect not followed (HTTP {status_code})"
    if status_code == 410:
        return "HTTP 410 Gone: the endpoint was disabled"
    return f"HTTP {status_code}"


async def _render(session: AsyncSession, event: MerchantEvent) -> str | None:
    """The `data` of an event written without it (the one-statement payment path), stored
    once: a sender rendering it at the same moment gets the stored one, so every delivery
    of the event sends the same bytes."""
    try:
        assert event.snapshot is not None  # noqa: S101 (the table stores one or the other)
        rendered = render.order_data_from_snapshot(event.snapshot)
    except Exception:
        log.exception("merchant_event.render_failed", event_id=event.id)
        return None
    stored = await session.execute(
        update(MerchantEvent)
        .where(MerchantEvent.id == event.id)
        .values(data=func.coalesce(MerchantEvent.data, rendered))
        .returning(MerchantEvent.data)
        .execution_options(synchronize_session=False)
    )
    return stored.scalar_one()


async def _disable(session: AsyncSession, endpoint_id: uuid.UUID) -> bool:
    """Disable the endpoint (it answered 410 Gone) and end its open deliveries; whether
    this call disabled it (not already disabled)."""
    disabled = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.disabled_at.is_(None))
        .values(disabled_at=func.now(), disabled_reason=_GONE)
        .returning(WebhookEndpoint.id)
        .execution_options(synchronize_session=False)
    )
    await endpoints.end_open_deliveries(session, endpoint_id, f"the endpoint was disabled: {_GONE}")
    return disabled.scalar_one_or_none() is not None


def _ids(claimed: _Claimed) -> dict[str, object]:
    return {
        "delivery_id": str(claimed.delivery_id),
        "event_id": claimed.event_id,
        "endpoint_id": str(claimed.endpoint_id),
        "attempt": claimed.attempt,
    }
