"""confirm_payment: the one place an order learns what happened to its money.

The webhook, the frontend's verify call (and later reconciliation) all feed
it. It is idempotent: applying the same signal twice, or two signals racing,
changes the order once and runs each side effect once. A payment confirms an
order only in the order's currency and for an amount its rules allow.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

import structlog
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from payments.merchant_events import record
from payments.models import ConfirmedVia, Order, OrderStatus, RefundReason, ReviewReason
from payments.orders import repository
from payments.orders.states import UNPAID
from payments.providers.base import Outcome, PaymentSignal
from payments.refunds import service as refunds

log = structlog.get_logger(__name__)


class Result(StrEnum):
    """What one signal did to its order; webhooks store it with the event."""

    PAID = "paid"
    PROCESSING = "processing"
    FAILED = "failed"
    EXPIRED = "expired"
    OUT_OF_STOCK = "out_of_stock"  # paid, but the stock was gone: refund queued
    PAYMENT_MISMATCH = "payment_mismatch"  # not the order's currency or amount: flagged
    ALREADY_PROCESSED = "already_processed"
    STILL_OPEN = "still_open"
    NOT_A_PAYMENT = "not_a_payment"
    UNKNOWN_CHECKOUT = "unknown_checkout"
    ACCOUNT_MISMATCH = "account_mismatch"


_STATUS_OF: dict[Outcome, OrderStatus] = {
    Outcome.PROCESSING: OrderStatus.PROCESSING,
    Outcome.FAILED: OrderStatus.FAILED,
    Outcome.EXPIRED: OrderStatus.EXPIRED,
}

_NO_CHANGE = {Outcome.OPEN: Result.STILL_OPEN, Outcome.NOT_A_PAYMENT: Result.NOT_A_PAYMENT}


@dataclass(frozen=True)
class Confirmation:
    order_id: uuid.UUID | None
    status: OrderStatus | None
    result: Result


async def confirm_payment(
    session: AsyncSession, signal: PaymentSignal, *, via: ConfirmedVia
) -> Confirmation:
    """Apply one observation of a checkout to its order, exactly once.

    Runs in the caller's transaction (`Database.transaction()`), so a webhook
    can record its event id in the same commit. The order moves only by a
    conditional UPDATE from the states that allow it; when zero rows change,
    someone else already did it and no side effect runs. Stock changes only
    here, in the same transaction as the move to `paid`.

    A payment confirms the order only if the order's rules allow it
    (`repository.accepts_payment`: its currency, and exactly its total or, with
    promotion codes allowed, anything from 0 to it); that check is part of the
    same guarded UPDATE. Any other payment is refused (`_refuse`).
    """
    where = repository.of_checkout(signal.session_id, signal.account)
    if signal.outcome is Outcome.PAID:
        order_id = await repository.transition(
            session,
            where & repository.accepts_payment(signal.currency, signal.amount_paid),
            OrderStatus.PAID,
            amount_paid=signal.amount_paid,
            provider_payment_id=signal.payment_id,
            confirmed_via=via,
            paid_at=func.now(),
            # An expired or failed order that is paid after all was not cancelled: the
            # receipt must not keep the reason it once closed for.
            cancel_reason=None,
        )
        if order_id is not None:
            return await _fulfil(session, order_id, signal, via)
    elif signal.outcome in _STATUS_OF:
        status = _STATUS_OF[signal.outcome]
        order_id = await repository.transition(session, where, status)
        if order_id is not None:
            log.info("order.updated", order_id=str(order_id), status=status, via=via)
            record.order_changed(session, order_id, status)
            return Confirmation(order_id, status, Result(status.value))
    return await _not_applied(session, signal, via)


async def _fulfil(
    session: AsyncSession, order_id: uuid.UUID, signal: PaymentSignal, via: ConfirmedVia
) -> Confirmation:
    """Take the stock the paid order needs; if another order took the last unit, refund."""
    if await repository.take_stock(session, order_id):
        log.info("payment.confirmed", order_id=str(order_id), via=via)
        record.order_changed(session, order_id, OrderStatus.PAID)
        return Confirmation(order_id, OrderStatus.PAID, Result.PAID)
    if signal.payment_id is None:  # a free order: nothing to give back
        status = OrderStatus.REFUNDED
        await repository.transition(
            session, Order.id == order_id, OrderStatus.REFUND_PENDING, cancel_reason="out_of_stock"
        )
        await repository.transition(session, Order.id == order_id, status)
        record.order_changed(session, order_id, status)
    else:
        status = OrderStatus.REFUND_PENDING
        await repository.transition(
            session, Order.id == order_id, status, cancel_reason="out_of_stock"
        )
        await refunds.queue_whole_refund(
            session,
            order_id,
            reason=RefundReason.OUT_OF_STOCK,
            amount=signal.amount_paid or 0,
            currency=signal.currency or "",
        )
    log.warning("payment.out_of_stock", order_id=str(order_id), via=via)
    return Confirmation(order_id, status, Result.OUT_OF_STOCK)


async def _not_applied(
    session: AsyncSession, signal: PaymentSignal, via: ConfirmedVia
) -> Confirmation:
    """The guarded UPDATE changed nothing: say why; refuse a payment outside the order's rules."""
    order = await repository.find_by_session(session, signal.session_id)
    if order is None:
        return Confirmation(None, None, Result.UNKNOWN_CHECKOUT)
    if order.provider_account != signal.account:
        log.warning(
            "payment.account_mismatch",
            order_id=str(order.id),
            expected=order.provider_account,
            got=signal.account,
        )
        return Confirmation(None, None, Result.ACCOUNT_MISMATCH)
    if signal.outcome is Outcome.PAID:
        reason = await repository.payment_mismatch(
            session, order.id, signal.currency, signal.amount_paid
        )
        if reason is not None:
            return await _refuse(session, order, signal, reason, via)
    result = _NO_CHANGE.get(signal.outcome, Result.ALREADY_PROCESSED)
    return Confirmation(order.id, OrderStatus(order.status), result)


async def _refuse(
    session: AsyncSession,
    order: Order,
    signal: PaymentSignal,
    reason: ReviewReason,
    via: ConfirmedVia,
) -> Confirmation:
    """A payment the order's rules do not allow: never paid, no stock taken, flagged for a human.

    If money moved and the order is still unpaid, it goes to `refund_pending` and
    the refund of what remains is queued in this same transaction. Otherwise it is
    only flagged: with no money moved the order keeps its status (a valid payment may
    still come), and an order a valid payment already settled stays as it is
    (which signal to believe is for the human). Repeats change nothing more: the
    transition is guarded, the flag keeps its first reason, the refund is queued once.
    """
    log.warning(
        "payment.mismatch",
        order_id=str(order.id),
        reason=reason,
        via=via,
        expected=(order.currency, order.amount_total),
        got=(signal.currency, signal.amount_paid),
    )
    money_moved = signal.payment_id is not None and signal.amount_paid != 0
    if money_moved:
        refunding = await repository.transition(
            session,
            (Order.id == order.id) & Order.status.in_(UNPAID),  # not one a valid payment settled
            OrderStatus.REFUND_PENDING,
            provider_payment_id=signal.payment_id,
            cancel_reason=reason,
            review_reason=func.coalesce(Order.review_reason, reason),
        )
        if refunding is not None:
            await refunds.queue_whole_refund(
                session,
                order.id,
                reason=RefundReason(reason.value),
                amount=signal.amount_paid or 0,
                currency=signal.currency or order.currency,
            )
            return Confirmation(order.id, OrderStatus.REFUND_PENDING, Result.PAYMENT_MISMATCH)
    await repository.flag_for_review(session, order.id, reason)
    return Confirmation(order.id, OrderStatus(order.status), Result.PAYMENT_MISMATCH)
