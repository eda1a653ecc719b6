"""Concurrent refunds of one order meet at the order's row lock: together they never refund
more than was paid, whatever the interleaving."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.conftest import Shop

ORDERS = 30


async def test_two_partial_refunds_that_exceed_the_payment(shop: Shop, db) -> None:
    """1500 + 1500 of 2500, sent at once, on 30 orders: exactly one 201 and one 409
    `refund_exceeds_remaining` per order, and amount_refunded <= amount_paid everywhere,
    in the database, at Stripe, and in the order's own checks."""
    orders = [await shop.paid() for _ in range(ORDERS)]

    answers = await asyncio.gather(
        *(shop.refund(order["id"], amount=1500) for order in orders for _ in range(2))
    )

    codes = Counter((a.status_code, a.json().get("error", {}).get("code")) for a in answers)
    assert codes == {(201, None): ORDERS, (409, "refund_exceeds_remaining"): ORDERS}
    await shop.drain_outbox()
    for order in orders:
        after = await shop.order(order["id"])
        assert (after["status"], after["amount_refunded"]) == ("partially_refunded", 1500)
        assert [r["status"] for r in after["refunds"]] == ["succeeded"]
        assert after["checks"]["ok"] is True
    worst = await db.fetchval("SELECT max(amount_refunded - amount_paid) FROM orders")
    assert worst == -1000
    assert len(shop.fake.refunds()) == ORDERS


async def test_many_small_refunds_at_once_stop_at_the_payment(shop: Shop) -> None:
    """Eight refunds of 400 at once on 2500: six go through (2400), two are refused, and a
    refund of what remains then takes the last 100."""
    order = await shop.paid()

    answers = await asyncio.gather(*(shop.refund(order["id"], amount=400) for _ in range(8)))

    assert sorted(a.status_code for a in answers) == [201] * 6 + [409] * 2
    rest = await shop.refund(order["id"])
    assert rest.json()["amount"] == 100
    await shop.drain_outbox()
    after = await shop.order(order["id"])
    assert (after["status"], after["amount_refunded"]) == ("refunded", 2500)
    charge = shop.fake.get_object(shop.fake.refunds()[0].refund["charge"])
    assert charge["amount_refunded"] == 2500
