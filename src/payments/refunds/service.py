"""Refunds: asked for by an admin, owed by the service, or seen from the provider.

Whatever their source, refunds meet in one place (`apply`), with their order locked, so
that what remains refundable (`amount_paid - amount_refunded`) is always checked and
changed in the same transaction as the refund row. A refund is written before the
provider is asked; the outbox asks (`refunds.delivery`), with the key `refund:<id>`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from enum import StrEnum

import structlog
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import OUTBOX_WRITTEN, Database, insert_for
from payments.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    NotFound,
    OrderDisputed,
    OrderNotRefundable,
    RefundExceedsRemaining,
    RefundsInFlight,
)
from payments.merchant_events import record
from payments.merchant_events.types import EventType
from payments.models import (
    Order,
    OrderStatus,
    OutboxMessage,
    Refund,
    RefundReason,
    RefundStatus,
    ReviewReason,
)
from payments.orders import repository as orders
from payments.providers.base import ChargeRefunds, RefundSignal
from payments.refunds import repository
from payments.refunds.states import COUNTED, KEPT, WHOLE_REMAINDER, may_move

log = structlog.get_logger(__name__)

REFUND = "refund"  # outbox: ask the provider for one refund
REFUND_SYNC = "refund_sync"  # outbox: fetch a payment's refunds from the provider
REFUNDED_ELSEWHERE = "refunded_elsewhere"


class Applied(StrEnum):
    """What one observation of a refund did; webhooks store it with the event."""

    RECORDED = "refund_recorded"  # a refund we did not know (made elsewhere)
    UPDATED = "refund_updated"
    ALREADY_PROCESSED = "already_processed"
    UNKNOWN_PAYMENT = "unknown_payment"
    FETCHING = "refunds_to_fetch"  # the payment shows refunds we do not know: fetched next


@dataclass(frozen=True)
class AdminRefund:
    """An admin's request, as validated by the route."""

    amount: int | None
    reason: RefundReason | None
    restock: bool


async def create_refund(
    database: Database, order_id: uuid.UUID, asked: AdminRefund, idempotency_key: str | None
) -> tuple[Refund, bool]:
    """Write a pending refund of what the admin asked, within what remains, and queue it.

    Returns the refund and whether it is a replay of an earlier request with the same
    `Idempotency-Key` (and the same body; another body is refused). Two concurrent
    requests on one order meet at the order's lock: together they never refund more
    than was paid, the second gets RefundExceedsRemaining.
    """
    fingerprint = _fingerprint(order_id, asked)
    if idempotency_key is not None:
        async with database.reading() as session:
            earlier = await repository.find_by_key(session, idempotency_key)
        if earlier is not None:
            return _replayed(earlier, fingerprint), True
    async with database.transaction() as session:
        order = await repository.lock_order(session, order_id)
        if order is None:
            raise NotFound(f"no order {order_id}")
        if idempotency_key is not None:  # a concurrent request with the key committed first
            earlier = await repository.find_by_key(session, idempotency_key)
            if earlier is not None:
                return _replayed(earlier, fingerprint), True
        amount = _refundable(order, asked.amount)
        if await repository.open_dispute(session, order.id):
            raise OrderDisputed(
                f"order {order.id} has an open dispute; refund it once the dispute closes"
            )
        refund = await repository.insert_refund(
            session,
            id=uuid.uuid4(),
            order_id=order.id,
            amount=amount,
            currency=order.currency,
            reason=asked.reason or RefundReason.REQUESTED_BY_CUSTOMER,
            status=RefundStatus.PENDING,
            restock=asked.restock,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint if idempotency_key else None,
        )
        if refund is None:  # the key was taken meanwhile, by a request on another order
            raise IdempotencyKeyInUse("a request with this Idempotency-Key is being processed")
        await _add_refunded(session, order.id, amount)
        took_stock = OrderStatus(order.status) in KEPT and order.cancel_reason is None
        if asked.restock and took_stock and await repository.restock(session, order.id):
            log.info("order.restocked", order_id=str(order.id), refund_id=str(refund.id))
        await enqueue(
            session, REFUND, order.id, {"refund_id": str(refund.id)}, f"refund:{refund.id}"
        )
    log.info("refund.requested", order_id=str(order_id), refund_id=str(refund.id), amount=amount)
    return refund, False


def _refundable(order: Order, asked: int | None) -> int:
    """How much to refund: what was asked, or all that remains; refused beyond it.

    A kept payment, or one the order could not keep whose amount is known (out of stock:
    while the service's own refund of it is pending nothing remains; if it failed, an
    admin may give the money back). A payment the order's rules refused has no known
    amount in its currency: it is refunded in the Dashboard, and its events record it.
    """
    status = OrderStatus(order.status)
    owed = status in (OrderStatus.REFUND_PENDING, OrderStatus.REFUNDED)
    if not (status in KEPT or owed) or not order.amount_paid or not order.provider_payment_id:
        raise OrderNotRefundable(f"order {order.id} is {order.status}: it has no payment to refund")
    remaining = order.amount_paid - order.amount_refunded
    if remaining <= 0:
        raise RefundExceedsRemaining(
            f"nothing remains refundable on order {order.id}: {order.amount_refunded} of "
            f"{order.amount_paid} {order.currency} refunded or on its way back"
        )
    amount = remaining if asked is None else asked
    if amount > remaining:
        raise RefundExceedsRemaining(
            f"{amount} is more than the {remaining} {order.currency} that remains refundable"
        )
    return amount


def _fingerprint(order_id: uuid.UUID, asked: AdminRefund) -> str:
    body = {"order_id": str(order_id), "amount": asked.amount, "reason": asked.reason}
    body["restock"] = asked.restock
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _replayed(refund: Refund, fingerprint: str) -> Refund:
    if refund.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used for another refund request")
    return refund


async def queue_whole_refund(
    session: AsyncSession,
    order_id: uuid.UUID,
    *,
    reason: RefundReason,
    amount: int,
    currency: str,
) -> None:
    """Owe back all of a payment the order could not keep (out of stock, a payment its rules
    refuse), in the caller's transaction: a pending refund of `amount`, and its message.

    The provider is asked for whatever remains of the payment, not for `amount`, which its
    answer corrects. Called at most once per order: the caller's guarded transition to
    `refund_pending` decides that.
    """
    refund_id = uuid.uuid4()
    await repository.insert_refund(
        session,
        id=refund_id,
        order_id=order_id,
        amount=amount,
        currency=currency,
        reason=reason,
        status=RefundStatus.PENDING,
    )
    order = await orders.get_order(session, order_id)
    if order is not None and order.currency == currency:
        await _add_refunded(session, order_id, amount)
    await enqueue(session, REFUND, order_id, {"refund_id": str(refund_id)}, f"refund:{refund_id}")


async def enqueue(
    session: AsyncSession, kind: str, order_id: uuid.UUID, payload: dict[str, str], key: str
) -> None:
    """Write an outbox message in the caller's transaction; the same key twice is one message."""
    session.info[OUTBOX_WRITTEN] = True
    await session.execute(
        insert_for(session)(OutboxMessage)
        .values(kind=kind, order_id=order_id, payload=payload, idempotency_key=key)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )


async def apply(
    session: AsyncSession, order: Order, signal: RefundSignal, *, ours: uuid.UUID | None = None
) -> Applied:
    """Record what the provider says of one refund of `order` (locked by the caller): a new
    row for a refund made elsewhere, or the row it names moved forward. The refunded amount
    moves with it, and the order's status with that. Repeats and stale observations (a
    status behind the stored one) change nothing. `ours`: the row the signal answers for,
    when the caller knows (the outbox, with the provider's answer to its request).
    """
    row = await repository.find_for_signal(
        session, order.id, signal.refund_id, ours or signal.our_refund_id
    )
    if row is None:
        status = RefundStatus(signal.status.value)
        counted = _counted(order, signal.amount, signal.currency, status)
        inserted = await repository.insert_refund(
            session,
            id=uuid.uuid4(),
            order_id=order.id,
            provider_refund_id=signal.refund_id,
            amount=signal.amount,
            currency=signal.currency,
            reason=signal.reason,
            status=status,
            failure_reason=signal.failure_reason,
            submitted_at=func.now(),
        )
        if inserted is None:  # recorded on another order's row: not this order's money
            log.error("refund.other_order", order_id=str(order.id), refund=signal.refund_id)
            return Applied.ALREADY_PROCESSED
        await _make_room(session, order, counted, keep=inserted.id)
        await _add_refunded(session, order.id, counted)
        _refund_event(session, inserted, status)
        log.info(
            "refund.seen",
            order_id=str(order.id),
            provider_refund_id=signal.refund_id,
            amount=signal.amount,
            status=status,
        )
        await _settle_owed(session, order, reason=signal.reason, status=status)
        return Applied.RECORDED
    current = RefundStatus(row.status)
    target = RefundStatus(signal.status.value)
    status = target if may_move(current, target) else current
    changed = (
        status != current
        or row.provider_refund_id != signal.refund_id
        or (row.amount, row.currency) != (signal.amount, signal.currency)
    )
    if not changed:
        return Applied.ALREADY_PROCESSED
    delta = _counted(order, signal.amount, signal.currency, status) - _counted(
        order, row.amount, row.currency, current
    )
    if delta > 0:
        await _make_room(session, order, delta, keep=row.id)
    await repository.update_refund(
        session,
        row.id,
        provider_refund_id=signal.refund_id,
        amount=signal.amount,
        currency=signal.currency,
        status=status,
        failure_reason=signal.failure_reason or row.failure_reason,
        submitted_at=func.coalesce(Refund.submitted_at, func.now()),
    )
    await _add_refunded(session, order.id, delta)
    if status != current:
        _refund_event(session, row, status)
    if status != current and status not in COUNTED:  # it gave nothing back, after all
        await _failed(session, order, row, signal.failure_reason or status.value)
        if row.reason in WHOLE_REMAINDER:
            await _owed_again(session, order)
    await _settle_owed(session, order, reason=row.reason, status=status)
    return Applied.UPDATED


async def fail(session: AsyncSession, order: Order, refund: Refund, failure_reason: str) -> None:
    """The provider refused our refund for good: it gave nothing back, so its amount is
    refundable again, and the order is flagged for a human."""
    moved = await repository.move_refund(
        session, refund.id, RefundStatus.FAILED, failure_reason=failure_reason
    )
    if moved is None:
        return
    await _add_refunded(
        session, order.id, -_counted(order, moved.amount, moved.currency, RefundStatus.PENDING)
    )
    _refund_event(session, moved, RefundStatus.FAILED)
    await _failed(session, order, moved, failure_reason)


async def cancel_owed(
    session: AsyncSession, order: Order, refund: Refund, *, why: str = "charge_already_refunded"
) -> None:
    """Our refund of what remains found nothing to give back: the payment went back
    elsewhere, in full (those refunds are fetched: REFUND_SYNC), or nothing was charged
    (`why`: nothing_charged). It gave nothing, and the order is refunded."""
    moved = await repository.move_refund(
        session, refund.id, RefundStatus.CANCELED, failure_reason=why
    )
    if moved is not None:
        _refund_event(session, moved, RefundStatus.CANCELED)
        await _add_refunded(
            session,
            order.id,
            -_counted(order, moved.amount, moved.currency, RefundStatus.PENDING),
        )
    await _refunded(session, order.id)


async def _failed(
    session: AsyncSession, order: Order, refund: Refund, failure_reason: str | None
) -> None:
    log.warning(
        "refund.failed",
        order_id=str(order.id),
        refund_id=str(refund.id),
        amount=refund.amount,
        failure_reason=failure_reason,
    )
    if await orders.flag_for_review(session, order.id, ReviewReason.REFUND_FAILED):
        log.warning("order.flagged", order_id=str(order.id), reason=ReviewReason.REFUND_FAILED)


async def _settle_owed(
    session: AsyncSession, order: Order, *, reason: str | None, status: RefundStatus
) -> None:
    """An order owing its whole payment back is refunded once the provider took our refund
    of what remains on its way (or found nothing left: `cancel_owed`), or once refunds made
    by anyone (an admin, the Dashboard) give back all it paid. A partial refund made
    elsewhere meanwhile does not settle it: ours still gives back the rest."""
    if status not in COUNTED:
        return
    whole = reason in WHOLE_REMAINDER
    if not whole:
        await session.refresh(order)
        if order.amount_paid is None or order.amount_refunded < order.amount_paid:
            return
        if any(
            refund.reason in WHOLE_REMAINDER and refund.amount > 0
            for refund in await repository.open_refunds(session, order.id)
        ):
            return  # ours still gives back the rest: settled when it goes out
    await _refunded(session, order.id)


async def _refunded(session: AsyncSession, order_id: uuid.UUID) -> None:
    """An order owing its payment back has given all of it back (or found nothing to)."""
    if await orders.transition(session, Order.id == order_id, OrderStatus.REFUNDED):
        record.order_changed(session, order_id, OrderStatus.REFUNDED)


async def _owed_again(session: AsyncSession, order: Order) -> None:
    """The service's refund of a payment the order could not keep failed or was canceled
    at the provider: the money did not go back. The order owes it again (`refund_pending`,
    flagged by `_failed`): a person decides how (a refund at the provider's would likely
    fail the same way, so none is sent by itself); `POST /admin/orders/{id}/refunds` takes
    such an order once nothing is pending."""
    if await repository.reopen_owed(session, order.id):
        log.warning("order.owes_refund_again", order_id=str(order.id))


async def _add_refunded(session: AsyncSession, order_id: uuid.UUID, delta: int) -> None:
    """Count a refund in the order's refunded amount (`repository.add_refunded`); when more of
    a kept payment goes back, the shop is told the order's new status."""
    status = await repository.add_refunded(session, order_id, delta)
    if delta > 0 and status is not None:
        record.order_changed(session, order_id, status)


def _refund_event(session: AsyncSession, refund: Refund, status: RefundStatus) -> None:
    """Tell the shop a refund gave the money back, or failed to (or was canceled)."""
    event = _REFUND_EVENT.get(status)
    if event is not None:
        record.refund_changed(session, refund.id, refund.order_id, event)


# A canceled refund gave nothing back either: the shop hears `refund.failed`, and the
# refund's `status` and `failure_reason` say which and why.
_REFUND_EVENT = {
    RefundStatus.SUCCEEDED: EventType.REFUND_SUCCEEDED,
    RefundStatus.FAILED: EventType.REFUND_FAILED,
    RefundStatus.CANCELED: EventType.REFUND_FAILED,
}


def _counted(order: Order, amount: int, currency: str, status: RefundStatus) -> int:
    """What a refund counts in the order's `amount_refunded`."""
    return amount if status in COUNTED and currency == order.currency else 0


async def _make_room(
    session: AsyncSession, order: Order, needed: int, *, keep: uuid.UUID | None
) -> None:
    """Make `needed` fit in what remains refundable, for a refund the provider made.

    The provider never refunds more than was paid, so a refund it reports that does not
    fit means refunds of ours it has not answered will get less or nothing: a refund of
    what remains shrinks, then refunds not sent yet are canceled, newest first. If what
    still does not fit is refunds already sent (the provider is answering them), nothing
    is changed and RefundsInFlight asks for the event again later.
    """
    if needed <= 0 or order.amount_paid is None:
        return
    await session.refresh(order)
    over = order.amount_refunded + needed - order.amount_paid
    if over <= 0:
        return
    for refund in await repository.open_refunds(session, order.id):
        if over <= 0:
            break
        if refund.id == keep or refund.currency != order.currency:
            continue
        if refund.reason in WHOLE_REMAINDER:
            cut = min(refund.amount, over)
            await repository.update_refund(session, refund.id, amount=refund.amount - cut)
        elif refund.submitted_at is None:
            cut = refund.amount
            canceled = await repository.move_refund(
                session, refund.id, RefundStatus.CANCELED, failure_reason=REFUNDED_ELSEWHERE
            )
            if canceled is not None:
                _refund_event(session, canceled, RefundStatus.CANCELED)
            log.warning(
                "refund.canceled",
                order_id=str(order.id),
                refund_id=str(refund.id),
                reason=REFUNDED_ELSEWHERE,
            )
        else:
            continue
        await _add_refunded(session, order.id, -cut)
        over -= cut
    if over > 0:
        raise RefundsInFlight()


async def note_charge_refunds(
    session: AsyncSession, order: Order, seen: ChargeRefunds, *, event_id: str
) -> Applied:
    """A payment's refunds in total: if the provider gave back more than the refunds we know
    of, fetch its refunds (through the outbox, after this commit) and record each."""
    known = await repository.confirmed_total(session, order.id, seen.currency)
    if seen.amount_refunded <= known:
        return Applied.ALREADY_PROCESSED
    payload = {"payment_id": seen.payment_id, "account": seen.account or ""}
    # One fetch per event: the same totals can come back after a refund failed.
    await enqueue(session, REFUND_SYNC, order.id, payload, f"refund-sync:{event_id}")
    return Applied.FETCHING
