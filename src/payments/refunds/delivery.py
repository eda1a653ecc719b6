"""The outbox's refund messages: ask the provider for a refund, or fetch a payment's refunds.

Each records its outcome in the transaction that marks its message done (`finish`), so
a worker that lost its claim (it outlived its lease) records nothing, and a crash after
the provider answered only repeats the call, under the same idempotency key.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import Database
from payments.models import Order, OutboxMessage, Refund, Seller
from payments.providers.base import (
    AlreadyRefunded,
    PaymentProvider,
    ProviderMisconfigured,
    ProviderRejected,
    RefundRequest,
    Routing,
)
from payments.refunds import repository, service
from payments.refunds.states import WHOLE_REMAINDER

log = structlog.get_logger(__name__)

Finish = Callable[[AsyncSession], Awaitable[bool]]
"""Marks the message done in the session's transaction; False if the claim was lost."""

Handler = Callable[[OutboxMessage, Finish], Awaitable[None]]


class RefundDelivery:
    def __init__(self, database: Database, provider: PaymentProvider) -> None:
        self._database = database
        self._provider = provider

    def handlers(self) -> dict[str, Handler]:
        return {service.REFUND: self.send, service.REFUND_SYNC: self.sync}

    async def send(self, message: OutboxMessage, finish: Finish) -> None:
        """Ask the provider for the refund the message names, then record its answer.

        The refund is marked submitted first: from then on nothing cancels it without the
        provider's word. A refund no longer pending (a webhook settled it, or it was
        canceled to make room for one made elsewhere) is not sent.
        """
        refund_id = uuid.UUID(str(message.payload["refund_id"]))
        async with self._database.transaction() as session:
            refund = await repository.submit(session, refund_id)
            if refund is None:
                if await finish(session):
                    log.info("refund.not_sent", refund_id=str(refund_id), reason="not pending")
                return
            order, seller = (
                await session.execute(
                    select(Order, Seller)
                    .outerjoin(Seller, Seller.id == Order.seller_id)
                    .where(Order.id == refund.order_id)
                )
            ).one()
        if order.provider_payment_id is None:  # queued by an earlier release for a free order
            await self._nothing_charged(message, finish, refund)
            return
        whole = refund.reason in WHOLE_REMAINDER
        request = RefundRequest(
            order_id=order.id,
            # An earlier release's key was sent without our refund id: same key, same request.
            refund_id=refund.id if message.idempotency_key == f"refund:{refund.id}" else None,
            payment_id=order.provider_payment_id,
            idempotency_key=message.idempotency_key,
            reason=refund.reason or "requested_by_customer",
            amount=None if whole else refund.amount,
            routing=_routing(order, seller),
        )
        try:
            answer = await self._provider.refund(request)
        except AlreadyRefunded:
            await self._nothing_left(message, finish, refund, order.provider_payment_id)
            return
        except ProviderMisconfigured:
            raise  # our key, not this refund: retried until an operator fixes it
        except ProviderRejected as exc:
            if whole:
                raise  # owed by the service: flagged and retried (see OutboxWorker)
            await self._refused(message, finish, refund, exc.code or "rejected")
            return
        async with self._database.transaction() as session:
            if not await finish(session):
                log.warning("outbox.claim_lost", message_id=message.id, kind=message.kind)
                return
            locked = await _locked(session, order.id)
            await service.apply(session, locked, answer, ours=refund.id)
        log.info(
            "refund.done",
            order_id=str(order.id),
            refund_id=str(refund.id),
            amount=answer.amount,
            status=answer.status,
        )

    async def _nothing_left(
        self, message: OutboxMessage, finish: Finish, refund: Refund, payment_id: str
    ) -> None:
        """The payment was refunded in full elsewhere: ours gave nothing; theirs are fetched."""
        async with self._database.transaction() as session:
            if not await finish(session):
                return
            order = await _locked(session, refund.order_id)
            if refund.reason in WHOLE_REMAINDER:
                await service.cancel_owed(session, order, refund)
            else:
                await service.fail(session, order, refund, "charge_already_refunded")
            await service.enqueue(
                session,
                service.REFUND_SYNC,
                order.id,
                {"payment_id": payment_id, "account": order.provider_account or ""},
                f"refund-sync:{payment_id}:after:{refund.id}",
            )
        log.warning("refund.already_refunded", order_id=str(refund.order_id))

    async def _nothing_charged(
        self, message: OutboxMessage, finish: Finish, refund: Refund
    ) -> None:
        async with self._database.transaction() as session:
            if not await finish(session):
                return
            order = await _locked(session, refund.order_id)
            await service.cancel_owed(session, order, refund, why="nothing_charged")

    async def _refused(
        self, message: OutboxMessage, finish: Finish, refund: Refund, code: str
    ) -> None:
        """An admin's refund the provider refuses (e.g. `charge_disputed`): it failed."""
        async with self._database.transaction() as session:
            if not await finish(session):
                return
            order = await _locked(session, refund.order_id)
            await service.fail(session, order, refund, code)

    async def sync(self, message: OutboxMessage, finish: Finish) -> None:
        """Record every refund the provider holds for the payment (made elsewhere, or ours
        whose answer was lost), each once."""
        payment_id = str(message.payload["payment_id"])
        account = str(message.payload.get("account") or "") or None
        found = await self._provider.list_refunds(payment_id, account=account)
        async with self._database.transaction() as session:
            if not await finish(session):
                return
            order = await _locked(session, message.order_id)
            for signal in found:
                await service.apply(session, order, signal)
        log.info("refund.synced", order_id=str(message.order_id), refunds=len(found))


async def _locked(session: AsyncSession, order_id: uuid.UUID) -> Order:
    order = await repository.lock_order(session, order_id)
    if order is None:  # orders are never deleted; a message names an existing one
        raise LookupError(f"no order {order_id}")
    return order


def _routing(order: Order, seller: Seller | None) -> Routing | None:
    if seller is None or not order.charge_type:
        return None
    return Routing(
        account=seller.stripe_account_id,
        charge_type=order.charge_type,
        application_fee_amount=order.application_fee_amount or 0,
    )
