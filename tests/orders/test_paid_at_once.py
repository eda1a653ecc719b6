"""The one-statement path decides exactly what the general path decides, or nothing.

Every case runs on two identical orders: one through `paid_at_once.confirm_paid`
(the webhook's and verify's path on Postgres), one through `confirm_payment` in a
transaction (the general path, and SQLite's). Where the one statement decides, the
orders, stock and outbox end the same; where it does not, it changed nothing and
the general path has a case the statement leaves to it.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from payments.db import Database
from payments.models import ConfirmedVia, OrderStatus
from payments.orders import paid_at_once
from payments.orders.confirm import Confirmation, Result, confirm_payment
from payments.providers.base import Outcome, PaymentSignal

TOTAL = 2000
DECIDED = {Result.PAID, Result.ALREADY_PROCESSED}


@dataclass(frozen=True)
class Case:
    status: OrderStatus
    promotion_codes: bool
    currency: str
    amount: int
    stock: int | None  # of the order's one limited product; None: unlimited
    free: bool = False  # no PaymentIntent

    def signal(self, session_id: str) -> PaymentSignal:
        return PaymentSignal(
            session_id=session_id,
            account=None,
            outcome=Outcome.PAID,
            amount_paid=self.amount,
            currency=self.currency,
            payment_id=None if self.free else f"pi_{session_id[-12:]}",
        )


CASES = [
    Case(status, promo, currency, amount, stock)
    for status, promo, (currency, amount), stock in itertools.product(
        OrderStatus,
        (False, True),
        (("usd", TOTAL), ("usd", TOTAL - 1), ("usd", TOTAL + 1), ("eur", TOTAL)),
        (5, 0, None),
    )
] + [Case(OrderStatus.PENDING, True, "usd", 0, 5, free=True)]


async def make_order(db: asyncpg.Connection, case: Case) -> tuple[uuid.UUID, str, uuid.UUID]:
    """An order of 2 units of one product and 1 of an unlimited one, in `case.status`."""
    limited, unlimited, order = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    session_id = f"cs_test_{order.hex}"
    for product, stock in ((limited, case.stock), (unlimited, None)):
        await db.execute(
            "INSERT INTO products (id, name, unit_amount, currency, stock)"
            " VALUES ($1, 'p', 500, 'usd', $2)",
            product,
            stock if stock is None else stock + 1,  # 1 more than the case leaves for it
        )
    await db.execute(
        "INSERT INTO orders (id, status, currency, amount_total, allow_promotion_codes,"
        " provider_session_id, cancel_reason)"
        " VALUES ($1, $2, 'usd', $3, $4, $5, $6)",
        order,
        case.status.value,
        TOTAL,
        case.promotion_codes,
        session_id,
        "expired" if case.status is OrderStatus.EXPIRED else None,
    )
    for product, quantity in ((limited, 2), (unlimited, 1)):
        await db.execute(
            "INSERT INTO order_items (order_id, product_id, name, quantity, unit_amount)"
            " VALUES ($1, $2, 'p', $3, 500)",
            order,
            product,
            quantity,
        )
    if case.stock is not None:  # another order took 1 unit: stock is now case.stock
        await db.execute("UPDATE products SET stock = stock - 1 WHERE id = $1", limited)
    return order, session_id, limited


async def state_of(db: asyncpg.Connection, order: uuid.UUID, product: uuid.UUID) -> dict[str, Any]:
    row = await db.fetchrow(
        "SELECT status, amount_paid, provider_payment_id IS NOT NULL AS has_payment,"
        " confirmed_via, cancel_reason, review_reason, paid_at IS NOT NULL AS has_paid_at"
        " FROM orders WHERE id = $1",
        order,
    )
    return {
        **dict(row),
        "stock": await db.fetchval("SELECT stock FROM products WHERE id = $1", product),
        "outbox": await db.fetchval("SELECT count(*) FROM outbox WHERE order_id = $1", order),
    }


async def general(database: Database, signal: PaymentSignal) -> Confirmation:
    async with database.transaction() as session:
        return await confirm_payment(session, signal, via=ConfirmedVia.WEBHOOK)


@pytest.mark.parametrize("status", list(OrderStatus))
async def test_one_statement_decides_as_the_general_path_or_leaves_it(
    app, db, status: OrderStatus
) -> None:
    database: Database = app.state.database
    for case in [c for c in CASES if c.status is status]:
        fast_order, fast_session, fast_product = await make_order(db, case)
        slow_order, slow_session, slow_product = await make_order(db, case)
        before = await state_of(db, fast_order, fast_product)

        fast = await paid_at_once.confirm_paid(
            database, case.signal(fast_session), via=ConfirmedVia.WEBHOOK
        )
        slow = await general(database, case.signal(slow_session))

        fast_state = await state_of(db, fast_order, fast_product)
        slow_state = await state_of(db, slow_order, slow_product)
        assert (fast.status is not None) == (slow.result in DECIDED), case
        if fast.status is None:
            assert fast_state == before, case
        else:
            assert fast.status == slow.status, case
            assert fast.paid_now == (slow.result is Result.PAID), case
            assert fast_state == slow_state, case


async def test_payment_on_another_account_is_left_to_the_general_path(app, db) -> None:
    """The checkout id alone is not enough: it must live on the account the event names."""
    database: Database = app.state.database
    case = Case(OrderStatus.PENDING, False, "usd", TOTAL, 5)
    order, session_id, product = await make_order(db, case)
    before = await state_of(db, order, product)
    signal = PaymentSignal(session_id, "acct_other", Outcome.PAID, TOTAL, "usd", "pi_1")

    fast = await paid_at_once.confirm_paid(database, signal, via=ConfirmedVia.WEBHOOK)

    assert fast == paid_at_once.NOT_DECIDED
    assert await state_of(db, order, product) == before


async def test_recorded_event_is_a_duplicate_and_changes_nothing(app, db) -> None:
    database: Database = app.state.database
    case = Case(OrderStatus.PENDING, False, "usd", TOTAL, 5)
    order, session_id, product = await make_order(db, case)
    event = paid_at_once.EventToRecord(
        "stripe", "evt_1", "platform", "checkout.session.completed", False
    )
    await db.execute(
        "INSERT INTO webhook_events (provider, event_id, endpoint, type, livemode, outcome)"
        " VALUES ('stripe', 'evt_1', 'platform', 'checkout.session.completed', false, 'paid')"
    )
    before = await state_of(db, order, product)

    done = await paid_at_once.confirm_paid(
        database, case.signal(session_id), via=ConfirmedVia.WEBHOOK, event=event
    )

    assert done.duplicate
    assert await state_of(db, order, product) == before
