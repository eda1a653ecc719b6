"""The buyer's receipt counts as refunded only what came back in the order's currency; a
refund in another currency follows a currency mismatch, which the admin view shows in full."""

from __future__ import annotations

import stripe

from tests.conftest import Shop
from tests.providers.test_refunds import paid_in_euros


async def test_refund_in_another_currency_is_not_counted_in_the_order_currency(
    shop: Shop, dashboard: stripe.StripeClient
) -> None:
    """A 25.00 USD order paid 23.00 EUR and refunded in EUR: the receipt says 0 USD came back
    (not 2300 under USD), the admin view lists the 23.00 EUR refund."""
    checkout = await shop.checkout(await shop.product(stock=5))
    await paid_in_euros(shop, dashboard, checkout, amount=2300)

    await shop.drain_outbox()

    order = await shop.order(checkout["order_id"])
    assert [(r["amount"], r["currency"]) for r in order["refunds"]] == [(2300, "eur")]
    receipt = (await shop.client.get(f"/orders/{checkout['order_id']}")).json()
    assert (receipt["status"], receipt["currency"], receipt["amount_refunded"]) == (
        "refunded",
        "usd",
        0,
    )
