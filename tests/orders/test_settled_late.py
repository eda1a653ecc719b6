"""Money that arrives for an order already closed as expired or failed: it settles the order
(money received is the strongest fact), and the receipt forgets why it had closed."""

from __future__ import annotations

import pytest

from payments.sandbox_mode import close_orphaned_checkouts
from tests.conftest import Shop


@pytest.mark.parametrize("closed_as", ["expired", "failed"])
async def test_payment_for_a_closed_order_clears_the_reason_it_closed_for(
    shop: Shop, closed_as: str
) -> None:
    """Paid after a sandbox restart closed it: paid, with no cancel_reason on either view."""
    product = await shop.product(stock=5)
    checkout = await shop.checkout(product)
    session_id = checkout["session_id"]
    if closed_as == "failed":  # a bank debit was settling when the sandbox restarted
        shop.fake.complete_session(session_id, outcome="async")
        await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    await close_orphaned_checkouts(shop.app.state.database)
    closed = await shop.order(checkout["order_id"])
    assert (closed["status"], closed["cancel_reason"]) == (closed_as, "sandbox_restarted")

    if closed_as == "failed":
        shop.fake.succeed_async(session_id)
        paid = shop.fake.last_event("checkout.session.async_payment_succeeded")
    else:
        shop.fake.complete_session(session_id, outcome="paid")
        paid = shop.fake.last_event("checkout.session.completed")
    delivered = await shop.deliver(paid)

    assert delivered.json()["outcome"] == "paid"
    order = await shop.order(checkout["order_id"])
    receipt = (await shop.client.get(f"/orders/{checkout['order_id']}")).json()
    assert (order["status"], order["cancel_reason"]) == ("paid", None)
    assert (receipt["status"], receipt["cancel_reason"]) == ("paid", None)
    assert await shop.stock(product) == 4
