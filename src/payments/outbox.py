"""Transactional outbox: calls to the outside world that a committed change owes.

A message is written in the same transaction as the state change that needs
it, so a crash between the commit and the call loses nothing. The worker
claims due messages (several replicas may run it: claims skip rows another
worker holds), calls the provider with the message's idempotency key, and
retries with backoff until the provider accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import OUTBOX_WRITTEN, Database, insert_for
from payments.errors import DatabaseUnavailable
from payments.models import Order, OrderStatus, OutboxMessage, Refund, Seller
from payments.orders import repository
from payments.providers.base import (
    PaymentProvider,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    Routing,
)

log = structlog.get_logger(__name__)

REFUND = "refund"
MAX_BACKOFF_SECONDS = 3600


async def enqueue_refund(session: AsyncSession, order_id: uuid.UUID, *, reason: str) -> None:
    """Queue the refund of what remains of the order's payment; queuing it twice is a no-op."""
    insert = insert_for(session)
    await session.execute(
        insert(OutboxMessage)
        .values(
            kind=REFUND,
            order_id=order_id,
            payload={"reason": reason},
            idempotency_key=f"refund:{order_id}:{reason}",
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    session.info[OUTBOX_WRITTEN] = True


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
    ) -> None:
        """`lease` must outlast one delivery, provider retries included: a message
        whose worker died is claimed again once it runs out."""
        self._database = database
        self._provider = provider
        self._poll_seconds = poll_seconds
        self._lease = lease
        self._wake = asyncio.Event()
        self._handlers: dict[str, Callable[[OutboxMessage], Awaitable[None]]] = {
            REFUND: self._send_refund,
        }

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
        now = datetime.now(UTC)
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
                        next_attempt_at=now + self._lease,
                    )
                    .returning(OutboxMessage)
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one_or_none()

    async def _deliver(self, message: OutboxMessage) -> None:
        try:
            await self._handlers[message.kind](message)
        except ProviderUnavailable as exc:
            await self._retry_later(message, str(exc))
        except ProviderRejected as exc:
            # Stripe refused: retrying the same call rarely helps, so an operator must look.
            log.error("outbox.rejected", message_id=message.id, kind=message.kind, error=str(exc))
            await self._retry_later(message, str(exc))
        except DatabaseUnavailable:
            raise  # an outage, not a bug: the claim's lease runs out and it is sent again
        except Exception as exc:
            log.exception("outbox.handler_failed", message_id=message.id, kind=message.kind)
            await self._retry_later(message, type(exc).__name__)

    async def _retry_later(self, message: OutboxMessage, error: str) -> None:
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
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message.id, OutboxMessage.done_at.is_(None))
                .values(next_attempt_at=datetime.now(UTC) + delay, last_error=error[:500])
            )

    async def _send_refund(self, message: OutboxMessage) -> None:
        """Refund what remains of the order's payment, record it as Stripe reports it,
        and mark the order refunded.

        Asking for what remains (not `amount_paid`) means a partial refund made
        elsewhere, such as in the Dashboard, cannot make this one fail for ever.
        If the worker dies after Stripe accepted the refund, the retry sends the
        same idempotency key (derived from the order) and gets the same refund back.
        """
        async with self._database.reading() as session:
            row = (
                await session.execute(
                    select(Order, Seller)
                    .outerjoin(Seller, Seller.id == Order.seller_id)
                    .where(Order.id == message.order_id)
                )
            ).one()
        order, seller = row
        result = await self._refund_at_provider(order, seller, message)
        reason = str(message.payload.get("reason", "requested"))
        async with self._database.transaction() as session:
            if result is not None:
                insert = insert_for(session)
                await session.execute(
                    insert(Refund)
                    .values(
                        order_id=order.id,
                        provider_refund_id=result.refund_id,
                        amount=result.amount,
                        currency=result.currency,
                        reason=reason,
                        status=result.status,
                    )
                    .on_conflict_do_nothing(index_elements=["provider_refund_id"])
                )
            await repository.transition(session, Order.id == order.id, OrderStatus.REFUNDED)
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message.id)
                .values(done_at=datetime.now(UTC), last_error=None)
            )
        log.info(
            "refund.done",
            order_id=str(order.id),
            amount=result.amount if result else 0,
            status=result.status if result else "nothing_charged",
        )

    async def _refund_at_provider(
        self, order: Order, seller: Seller | None, message: OutboxMessage
    ) -> RefundResult | None:
        """Stripe's refund; None when nothing was charged (a free order has no payment)."""
        if order.provider_payment_id is None:
            return None
        routing = None
        if seller is not None and order.charge_type:
            routing = Routing(
                account=seller.stripe_account_id,
                charge_type=order.charge_type,
                application_fee_amount=order.application_fee_amount or 0,
            )
        request = RefundRequest(
            order_id=order.id,
            payment_id=order.provider_payment_id,
            idempotency_key=message.idempotency_key,
            reason=str(message.payload.get("reason", "requested")),
            routing=routing,
        )
        try:
            return await self._provider.refund(request)
        except ProviderRejected as exc:
            if exc.code != "charge_already_refunded":
                raise
            # Refunded by someone else (e.g. in the Dashboard): the money is back all the same.
            # Stripe does not say how much; a confirmed payment was given back in full, and
            # one never confirmed (a mismatch, amount_paid unset) is recorded as 0 from us.
            log.warning("refund.already_refunded", order_id=str(order.id))
            return RefundResult(
                refund_id=None,
                amount=order.amount_paid if order.amount_paid is not None else 0,
                currency=order.currency,
                status="already_refunded",
            )
