"""Transactional outbox: calls to the outside world that a committed change owes.

A message is written in the same transaction as the state change that needs
it, so a crash between the commit and the call loses nothing. The worker
claims due messages (several replicas may run it: claims skip rows another
worker holds), calls the provider with the message's idempotency key, and
retries with backoff until the provider accepts.

A claim is a lease: a worker that dies (or stalls past the lease) loses the
message to the next claim. Each claim counts up `attempts`, and that number
is the claim's token: a worker records the outcome, or reschedules the
message, only while the token is still the message's latest (`_finish`), so a
stalled worker that wakes up late records nothing. Leases and retry times are
computed on the database's clock, which all replicas share.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from datetime import timedelta

import structlog
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import Database, database_time_after
from payments.errors import DatabaseUnavailable, RefundsInFlight
from payments.models import OutboxMessage, ReviewReason
from payments.orders import repository
from payments.providers.base import (
    PaymentProvider,
    ProviderMisconfigured,
    ProviderRejected,
    ProviderUnavailable,
)
from payments.refunds.delivery import Handler, RefundDelivery
from payments.refunds.service import REFUND

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 3600

# A message its provider refuses (not a transient failure) flags its order for a human.
_FLAG_WHEN_REJECTED = {REFUND: ReviewReason.REFUND_FAILED}


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter, capped at an hour: retried until done."""
    seconds = min(MAX_BACKOFF_SECONDS, 2 ** min(attempts, 12))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311 (jitter, not crypto)


class OutboxWorker:
    def __init__(
        self,
        database: Database,
        provider: PaymentProvider,
        *,
        poll_seconds: float = 5.0,
        lease: timedelta = timedelta(minutes=5),
        handlers: Mapping[str, Handler] | None = None,
    ) -> None:
        """`lease` should outlast one delivery, provider retries included: a message
        whose worker died is claimed again once it runs out, and a worker that outlives
        it records nothing (see `_finish`). `handlers` by message kind: the refunds'
        by default."""
        self._database = database
        self._poll_seconds = poll_seconds
        self._lease = lease
        self._wake = asyncio.Event()
        self._handlers = dict(handlers or RefundDelivery(database, provider).handlers())

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver due messages until cancelled; woken at once after a commit that queued one."""
        while True:
            self._wake.clear()  # before draining, so a wake during the drain is not lost
            try:
                await self.drain()
            except DatabaseUnavailable:
                # An outage, already logged by `Database` (`database.unavailable`): one
                # line per poll, no traceback; the messages wait in the table.
                log.warning("outbox.paused", retry_in_seconds=self._poll_seconds)
            except Exception:  # a bug: its traceback is logged, and the loop stays alive
                log.exception("outbox.drain_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)

    async def drain(self, *, limit: int = 100) -> int:
        """Deliver the messages that are due now; returns how many were attempted."""
        attempted = 0
        while attempted < limit:
            message = await self._claim()
            if message is None:
                break
            attempted += 1
            await self._deliver(message)
        return attempted

    async def _claim(self) -> OutboxMessage | None:
        """Lease the next due message to this worker; its `attempts` is the claim's token."""
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.done_at.is_(None), OutboxMessage.next_attempt_at <= func.now())
            .order_by(OutboxMessage.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        async with self._database.transaction() as session:
            return (
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == due)
                    .values(
                        attempts=OutboxMessage.attempts + 1,
                        next_attempt_at=database_time_after(session, self._lease),
                    )
                    .returning(OutboxMessage)
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one_or_none()

    async def _deliver(self, message: OutboxMessage) -> None:
        async def finish(session: AsyncSession) -> bool:
            return await _finish(session, message)

        try:
            await self._handlers[message.kind](message, finish)
        except (ProviderUnavailable, RefundsInFlight) as exc:
            await self._retry_later(message, str(exc))
        except ProviderMisconfigured as exc:
            # Our own key was refused (revoked, wrong account), not this refund: an operator
            # fixes the configuration, and no order is flagged for what is not about it.
            log.error("outbox.misconfigured", message_id=message.id, kind=message.kind)
            await self._retry_later(message, str(exc))
        except ProviderRejected as exc:
            # Stripe refused for good, as far as we can tell: a human must look, so the order
            # is flagged. Retrying stays harmless (same idempotency key) and may succeed once
            # the cause is gone (a dispute closed, a balance topped up), so it goes on.
            log.error("outbox.rejected", message_id=message.id, kind=message.kind, error=str(exc))
            await self._retry_later(message, str(exc), flag=_FLAG_WHEN_REJECTED.get(message.kind))
        except DatabaseUnavailable:
            raise  # an outage, not a bug: the claim's lease runs out and it is sent again
        except Exception as exc:
            log.exception("outbox.handler_failed", message_id=message.id, kind=message.kind)
            await self._retry_later(message, type(exc).__name__)

    async def _retry_later(
        self, message: OutboxMessage, error: str, *, flag: ReviewReason | None = None
    ) -> None:
        """Reschedule with backoff (and flag the order), if this worker still holds the claim."""
        delay = backoff(message.attempts)
        log.warning(
            "outbox.retry",
            message_id=message.id,
            kind=message.kind,
            attempts=message.attempts,
            retry_in_seconds=round(delay.total_seconds()),
            error=error,
        )
        async with self._database.transaction() as session:
            held = await session.execute(
                update(OutboxMessage)
                .where(*_still_claimed(message))
                .values(next_attempt_at=database_time_after(session, delay), last_error=error[:500])
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
            if held.scalar_one_or_none() is None:
                log.warning("outbox.claim_lost", message_id=message.id, kind=message.kind)
                return
            if flag is not None and await repository.flag_for_review(
                session, message.order_id, flag
            ):
                log.warning("order.flagged", order_id=str(message.order_id), reason=flag)


def _still_claimed(message: OutboxMessage) -> tuple[ColumnElement[bool], ...]:
    """The message is unfinished and its latest claim is the one `message` came from."""
    return (
        OutboxMessage.id == message.id,
        OutboxMessage.done_at.is_(None),
        OutboxMessage.attempts == message.attempts,
    )


async def _finish(session: AsyncSession, message: OutboxMessage) -> bool:
    """Mark the message done, first thing in the transaction that records its outcome.

    Only the worker holding the latest claim can; for any other (one that outlived its
    lease while another claimed the message) nothing changes and it must record nothing.
    The row stays locked until the commit, so no new claim can slip in meanwhile.
    """
    done = await session.execute(
        update(OutboxMessage)
        .where(*_still_claimed(message))
        .values(done_at=func.now(), last_error=None)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return done.scalar_one_or_none() is not None
