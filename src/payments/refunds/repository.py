"""Guarded writes on refunds and on the order's refunded amount.

Every change to a refund runs with its order's row locked (`lock_order`), first thing
in the transaction: that one lock serializes everything that can change what remains
refundable (the admin API, webhooks, the outbox, reconciliation), and every path takes
its locks in one order (the order, then its refunds or products, then the event id).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import insert_for
from payments.disputes.states import BLOCKS_REFUNDS
from payments.models import (
    Dispute,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Refund,
    RefundStatus,
    touched,
)
from payments.refunds.states import ALLOWED_FROM, COUNTED, KEPT


async def lock_order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    """The order, locked until the transaction ends; None if there is no such order."""
    return (
        await session.execute(
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def lock_order_of_payment(
    session: AsyncSession, payment_id: str, account: str | None
) -> Order | None:
    """The order a provider payment belongs to, only on that account, locked."""
    return (
        await session.execute(
            select(Order)
            .where(
                Order.provider_payment_id == payment_id,
                Order.provider_account.is_not_distinct_from(account),
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def add_refunded(
    session: AsyncSession, order_id: uuid.UUID, delta: int
) -> OrderStatus | None:
    """Count `delta` more (or, negative, less) as refunded, and move a kept payment's
    status with it: `paid`, `partially_refunded`, or `refunded` when all of it went back.
    Returns the kept payment's status after it; None for any other order, or no change.

    Callers hold the order's lock and have checked that the result stays within
    `amount_paid`; the table's CHECK refuses anything else. The status of an order whose
    payment was not kept (`refund_pending`, or closed with a `cancel_reason`) stays.
    """
    if delta == 0:
        return None
    refunded = Order.amount_refunded + delta
    derived = case(
        (refunded <= 0, literal(OrderStatus.PAID.value)),
        (refunded < Order.amount_paid, literal(OrderStatus.PARTIALLY_REFUNDED.value)),
        else_=literal(OrderStatus.REFUNDED.value),
    )
    kept = and_(Order.status.in_(KEPT), Order.cancel_reason.is_(None))
    changed = await session.execute(
        update(Order)
        .where(Order.id == order_id)
        .values(
            amount_refunded=refunded,
            status=case((kept, derived), else_=Order.status),
            updated_at=touched(Order.updated_at),
        )
        .returning(Order.status, Order.cancel_reason)
        .execution_options(synchronize_session=False)
    )
    status, cancel_reason = changed.one()
    return OrderStatus(status) if status in KEPT and cancel_reason is None else None


async def reopen_owed(session: AsyncSession, order_id: uuid.UUID) -> bool:
    """A payment the order could not keep (it has a `cancel_reason`) whose refund failed
    after all goes back from `refunded` to `refund_pending`: the money is still owed. The
    one move back the order states allow, because the money moved back."""
    reopened = await session.execute(
        update(Order)
        .where(
            Order.id == order_id,
            Order.status == OrderStatus.REFUNDED,
            Order.cancel_reason.is_not(None),
        )
        .values(status=OrderStatus.REFUND_PENDING, updated_at=touched(Order.updated_at))
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    return reopened.scalar_one_or_none() is not None


async def insert_refund(session: AsyncSession, **values: Any) -> Refund | None:
    """A new refund row; None if its idempotency key or provider id is taken already."""
    inserted = await session.execute(
        insert_for(session)(Refund).values(**values).on_conflict_do_nothing().returning(Refund)
    )
    return inserted.scalar_one_or_none()


async def move_refund(
    session: AsyncSession, refund_id: uuid.UUID, to: RefundStatus, **values: Any
) -> Refund | None:
    """Move the refund to `to` if its status allows it (forward only); only one concurrent
    caller wins. Returns the refund as it is now, or None if nothing changed."""
    stmt = (
        update(Refund)
        .where(Refund.id == refund_id, Refund.status.in_(ALLOWED_FROM[to]))
        .values(status=to, updated_at=touched(Refund.updated_at), **values)
        .returning(Refund)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def update_refund(session: AsyncSession, refund_id: uuid.UUID, **values: Any) -> Refund:
    stmt = (
        update(Refund)
        .where(Refund.id == refund_id)
        .values(updated_at=touched(Refund.updated_at), **values)
        .returning(Refund)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


async def submit(session: AsyncSession, refund_id: uuid.UUID) -> Refund | None:
    """Mark a pending refund as about to be sent to the provider; None if it is no longer
    pending (canceled to make room, or settled by a webhook first). From then on it is
    never canceled without asking the provider."""
    stmt = (
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == RefundStatus.PENDING)
        .values(submitted_at=func.coalesce(Refund.submitted_at, func.now()))
        .returning(Refund)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_for_signal(
    session: AsyncSession, order_id: uuid.UUID, provider_refund_id: str, ours: uuid.UUID | None
) -> Refund | None:
    """The row of a provider refund: by its provider id, or by the id we gave it (in its
    metadata) if the provider's answer was not recorded yet."""
    condition = Refund.provider_refund_id == provider_refund_id
    if ours is not None:
        condition = or_(
            condition,
            and_(Refund.id == ours, Refund.provider_refund_id.is_(None)),
        )
    rows = (
        await session.execute(
            select(Refund).where(Refund.order_id == order_id, condition).with_for_update()
        )
    ).scalars()
    found = list(rows)
    # Both may exist only if the provider id was recorded on another row first: it wins.
    found.sort(key=lambda refund: refund.provider_refund_id != provider_refund_id)
    return found[0] if found else None


async def find_by_key(session: AsyncSession, key: str) -> Refund | None:
    return (
        await session.execute(select(Refund).where(Refund.idempotency_key == key))
    ).scalar_one_or_none()


async def get_refund(session: AsyncSession, refund_id: uuid.UUID) -> Refund | None:
    return await session.get(Refund, refund_id)


async def open_refunds(session: AsyncSession, order_id: uuid.UUID) -> Sequence[Refund]:
    """The order's pending refunds the provider has not confirmed, newest first."""
    rows = await session.execute(
        select(Refund)
        .where(
            Refund.order_id == order_id,
            Refund.status == RefundStatus.PENDING,
            Refund.provider_refund_id.is_(None),
        )
        .order_by(Refund.created_at.desc(), Refund.id.desc())
        .with_for_update()
    )
    return rows.scalars().all()


async def confirmed_total(session: AsyncSession, order_id: uuid.UUID, currency: str) -> int:
    """What the provider confirmed as given back (refunds it named), pending or succeeded."""
    total = await session.execute(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.order_id == order_id,
            Refund.currency == currency,
            Refund.provider_refund_id.is_not(None),
            Refund.status.in_(COUNTED),
        )
    )
    return int(total.scalar_one())


async def open_dispute(session: AsyncSession, order_id: uuid.UUID) -> bool:
    """Whether a chargeback of the order's payment is still open (refunds are refused)."""
    found = await session.execute(
        select(Dispute.id)
        .where(Dispute.order_id == order_id, Dispute.status.in_(BLOCKS_REFUNDS))
        .limit(1)
    )
    return found.first() is not None


async def restock(session: AsyncSession, order_id: uuid.UUID) -> bool:
    """Give the order's quantities back to limited products, once per order; only one
    concurrent caller wins. Products are updated in id order, as `take_stock` locks them."""
    marked = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.restocked_at.is_(None))
        .values(restocked_at=func.now(), updated_at=touched(Order.updated_at))
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if marked.scalar_one_or_none() is None:
        return False
    items = await session.execute(
        select(OrderItem.product_id, OrderItem.quantity)
        .join(Product, Product.id == OrderItem.product_id)
        .where(OrderItem.order_id == order_id, Product.stock.is_not(None))
        .order_by(OrderItem.product_id)
    )
    for product_id, quantity in items.all():
        await session.execute(
            update(Product)
            .where(Product.id == product_id, Product.stock.is_not(None))
            .values(stock=Product.stock + quantity)
            .execution_options(synchronize_session=False)
        )
    return True
