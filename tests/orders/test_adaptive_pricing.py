"""Adaptive Pricing: a buyer paying in a currency of their own pays the order all the same.
Sessions created before 2025-03-31 report the buyer's currency in `currency`/`amount_total`
and the merchant's in `currency_conversion`; later ones keep the merchant's in
`currency`/`amount_total` and the buyer's in `presentment_details`. Signed events in both
shapes are judged by what the merchant charged."""

from __future__ import annotations

from tests.conftest import Shop
from tests.orders.test_mismatch import paid_event

CONVERTED = {
    "amount_subtotal": 2500,
    "amount_total": 2500,
    "fx_rate": "0.9248",
    "source_currency": "usd",
}


async def test_payment_in_the_buyers_currency_with_a_conversion_pays_the_order(
    shop: Shop,
) -> None:
    """23.12 EUR shown to the buyer, 25.00 USD in currency_conversion: paid, 2500 recorded."""
    product = await shop.product(stock=5)
    checkout = await shop.checkout(product)
    event = paid_event(
        shop, checkout, currency="eur", amount_total=2312, currency_conversion=CONVERTED
    )
    event["api_version"] = "2024-06-20"

    response = await shop.deliver(event)

    order = await shop.order(checkout["order_id"])
    assert response.json()["outcome"] == "paid"
    assert (order["status"], order["amount_paid"], order["review_reason"]) == ("paid", 2500, None)
    assert await shop.stock(product) == 4


async def test_payment_with_presentment_details_pays_the_order(shop: Shop) -> None:
    """25.00 USD in currency/amount_total, 23.12 EUR in presentment_details: paid."""
    checkout = await shop.checkout(await shop.product(stock=5))
    event = paid_event(
        shop,
        checkout,
        presentment_details={"presentment_amount": 2312, "presentment_currency": "eur"},
    )

    response = await shop.deliver(event)

    order = await shop.order(checkout["order_id"])
    assert response.json()["outcome"] == "paid"
    assert (order["status"], order["amount_paid"]) == ("paid", 2500)


async def test_conversion_of_a_wrong_amount_is_still_refused(shop: Shop) -> None:
    """The conversion is checked like any payment: 30.00 USD for a 25.00 order is refused."""
    checkout = await shop.checkout(await shop.product(stock=5))
    event = paid_event(
        shop,
        checkout,
        currency="eur",
        amount_total=2500,
        currency_conversion=CONVERTED | {"amount_subtotal": 3000, "amount_total": 3000},
    )

    response = await shop.deliver(event)

    order = await shop.order(checkout["order_id"])
    assert response.json()["outcome"] == "payment_mismatch"
    assert (order["status"], order["review_reason"]) == ("refund_pending", "amount_mismatch")
