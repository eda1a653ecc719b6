"""The one statement against rows that change while it waits for their locks.

One statement has one snapshot for all its CTEs. `stock` locks the products (FOR
UPDATE: the newest version, rechecked), but `taken`'s UPDATE finds the products
through that snapshot: a filter on the row it finds would judge the stock as it
was, and a value taken from it would be stale.
"""

from __future__ import annotations

import asyncio

import asyncpg

from tests.conftest import Shop, wait_until
from tests.webhooks.test_lock_conflict import waiting_for_a_lock


async def test_restock_committed_while_the_statement_waits_still_takes_the_stock(
    shop: Shop, db, database_url: str
) -> None:
    """A payment that confirms its order takes its stock, even if a restock (an operator's
    UPDATE; stock only ever grows that way) commits while the statement waits for the row."""
    product = await shop.product(stock=1)
    first, second = await shop.checkout(product), await shop.checkout(product)
    shop.fake.complete_session(first["session_id"], outcome="paid")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    assert await shop.stock(product) == 0  # the first buyer took the last unit
    shop.fake.complete_session(second["session_id"], outcome="paid")
    event = shop.fake.last_event("checkout.session.completed")
    operator = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        restock = operator.transaction()
        await restock.start()
        await operator.execute("UPDATE products SET stock = stock + 5 WHERE id = $1", product["id"])
        delivery = asyncio.create_task(shop.deliver(event))
        await wait_until(lambda: waiting_for_a_lock(db))  # it holds the order, wants the stock
        await restock.commit()
        delivered = await delivery
    finally:
        await operator.close()

    assert delivered.status_code == 200, delivered.text
    order = await shop.order(second["order_id"])
    if order["status"] == "paid":
        assert await shop.stock(product) == 4  # 0 + 5 restocked - 1 sold
    else:  # the general path's answer to no stock is a refund; either way, no free unit
        assert order["status"] == "refund_pending"
        assert await shop.stock(product) == 5
