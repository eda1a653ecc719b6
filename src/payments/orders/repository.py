"""Guarded writes on orders and stock.

Each transition is one conditional UPDATE from the states that allow it and
returns what it changed: of several concurrent callers, only one wins, and
zero rows is the normal answer for "already processed".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from payments.db import insert_for
from payments.models import Order, OrderItem, OrderStatus, Product, ReviewReason, touched
from payments.orders.states import ALLOWED_FROM


async def transition(
    session: AsyncSession,
    where: ColumnElement[bool],
    to: OrderStatus,
    **values: Any,
) -> uuid.UUID | None:
    """Move the matching order to `to` if its state allows it; only one concurrent caller wins.

    Returns the order id, or None when nothing changed (no such order, or it
    is already at or past `to`).
    """
    stmt = (
        update(Order)
        .where(where, Order.status.in_(ALLOWED_FROM[to]))
        .values(status=to, updated_at=touched(Order.updated_at), **values)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def of_checkout(session_id: str, account: str | None) -> ColumnElement[bool]:
    """The order a provider checkout belongs to, only if it lives on that account."""
    return (Order.provider_session_id == session_id) & Order.provider_account.is_not_distinct_from(
        account
    )


def accepts_payment(currency: str | None, amount: int | None) -> ColumnElement[bool]:
    """The order's rules for a payment: its own currency, and exactly its total or, when
    the order allows promotion codes, any amount from 0 up to its total.

    The one definition of the rule: the UPDATE to paid is guarded by it, and
    `payment_mismatch` reads it back to say which part failed.
    """
    return and_(_in_currency(currency), _amount_allowed(amount))


def _in_currency(currency: str | None) -> ColumnElement[bool]:
    return false() if currency is None else Order.currency == currency


def _amount_allowed(amount: int | None) -> ColumnElement[bool]:
    if amount is None or amount < 0:
        return false()
    discounted = and_(Order.allow_promotion_codes, Order.amount_total >= amount)
    return or_(Order.amount_total == amount, discounted)


async def payment_mismatch(
    session: AsyncSession, order_id: uuid.UUID, currency: str | None, amount: int | None
) -> ReviewReason | None:
    """Why the order's rules refuse this payment (`accepts_payment`); None if they allow it."""
    reason = case(
        (not_(_in_currency(currency)), ReviewReason.CURRENCY_MISMATCH.value),
        (not_(_amount_allowed(amount)), ReviewReason.AMOUNT_MISMATCH.value),
        else_=None,
    )
    found = (await session.execute(select(reason).where(Order.id == order_id))).scalar_one()
    return None if found is None else ReviewReason(found)


async def flag_for_review(session: AsyncSession, order_id: uuid.UUID, reason: ReviewReason) -> bool:
    """Flag the order for a human, once: the first reason stays; only one concurrent caller wins."""
    stmt = (
        update(Order)
        .where(Order.id == order_id, Order.review_reason.is_(None))
        .values(review_reason=reason, updated_at=touched(Order.updated_at))
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def find_by_session(session: AsyncSession, session_id: str) -> Order | None:
    return (
        await session.execute(select(Order).where(Order.provider_session_id == session_id))
    ).scalar_one_or_none()


async def get_order(
    session: AsyncSession, order_id: uuid.UUID, *, full: bool = False
) -> Order | None:
    stmt = select(Order).where(Order.id == order_id)
    if full:
        stmt = stmt.options(
            selectinload(Order.items), selectinload(Order.refunds), selectinload(Order.disputes)
        )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_orders(
    session: AsyncSession, *, status: OrderStatus | None, flagged: bool | None, limit: int
) -> Sequence[Order]:
    stmt = (
        select(Order)
        .options(selectinload(Order.refunds), selectinload(Order.disputes))
        .order_by(Order.created_at.desc(), Order.id.desc())  # SQLite's clock ticks in seconds
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(Order.status == status)
    if flagged is not None:
        stmt = stmt.where(
            Order.review_reason.is_not(None) if flagged else Order.review_reason.is_(None)
        )
    return (await session.execute(stmt)).scalars().all()


async def take_stock(session: AsyncSession, order_id: uuid.UUID) -> bool:
    """Decrement the stock of every limited item of the order, all or nothing.

    The rows are locked in id order, so two confirmations sharing products
    cannot deadlock; the UPDATE stays guarded by `stock >= quantity` and the
    table's CHECK keeps stock from ever going negative.
    """
    rows = (
        await session.execute(
            select(Product.id, Product.stock, OrderItem.quantity)
            .join(OrderItem, OrderItem.product_id == Product.id)
            .where(OrderItem.order_id == order_id, Product.stock.is_not(None))
            .order_by(Product.id)
            .with_for_update(of=Product)
        )
    ).all()
    if any(row.stock < row.quantity for row in rows):
        return False
    for row in rows:
        await session.execute(
            update(Product)
            .where(Product.id == row.id, Product.stock >= row.quantity)
            .values(stock=Product.stock - row.quantity)
            .execution_options(synchronize_session=False)
        )
    return True


async def find_by_idempotency_key(session: AsyncSession, key: str) -> Order | None:
    return (
        await session.execute(select(Order).where(Order.idempotency_key == key))
    ).scalar_one_or_none()


async def items_of(session: AsyncSession, order_id: uuid.UUID) -> list[OrderItem]:
    rows = await session.execute(
        select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.product_id)
    )
    return list(rows.scalars())


async def insert_order(session: AsyncSession, **values: Any) -> Order | None:
    """Insert a pending order; None if one with the same idempotency key exists.

    The unique key decides a race between two requests carrying it: the second
    insert waits for the first to commit and then does nothing.
    """
    inserted = await session.execute(
        insert_for(session)(Order)
        .values(status=OrderStatus.PENDING, **values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Order)
    )
    return inserted.scalar_one_or_none()


async def attach_checkout(
    session: AsyncSession,
    order_id: uuid.UUID,
    session_id: str,
    url: str,
    expires_at: int | None = None,
) -> Order | None:
    """Record the provider's checkout on the order, once; returns the order as stored."""
    await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.provider_session_id.is_(None))
        .values(
            provider_session_id=session_id,
            checkout_url=url,
            checkout_expires_at=datetime.fromtimestamp(expires_at, UTC) if expires_at else None,
        )
        .execution_options(synchronize_session=False)
    )
    return await get_order(session, order_id)
