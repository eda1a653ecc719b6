"""The refund as sent to Stripe and as read back: the fee is asked back only where one was
taken, and a charge refunded elsewhere is recorded with what Stripe holds as refunded."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.conftest import Shop
from tests.orders.test_mismatch import paid_event


def refund_params(shop: Shop, order_id: str) -> dict[str, Any]:
    [ours] = [r for r in shop.fake.refunds() if r.refund["metadata"].get("order_id") == order_id]
    return dict(ours.request_params)


@pytest.mark.parametrize("charge_type", ["direct", "destination"])
async def test_refund_of_an_order_without_a_fee_does_not_ask_for_a_fee_back(
    shop: Shop, charge_type: str
) -> None:
    """A seller at 0 bps: there is no application fee to refund, so none is asked for."""
    seller = await shop.seller(charge_type, fee_bps=0)
    _first, second = await shop.oversold(seller)

    await shop.drain_outbox()

    assert (await shop.order(second["order_id"]))["status"] == "refunded"
    assert "refund_application_fee" not in refund_params(shop, second["order_id"])


@pytest.mark.parametrize("charge_type", ["direct", "destination"])
async def test_refund_of_an_order_with_a_fee_gives_the_fee_back(
    shop: Shop, charge_type: str
) -> None:
    """A seller at 10%: the platform returns its 2.50 with the refund."""
    seller = await shop.seller(charge_type, fee_bps=1000)
    _first, second = await shop.oversold(seller)

    await shop.drain_outbox()

    assert (await shop.order(second["order_id"]))["application_fee_amount"] == 250
    assert refund_params(shop, second["order_id"])["refund_application_fee"] == "true"


async def test_mismatch_refunded_elsewhere_records_what_stripe_gave_back(
    shop: Shop, dashboard: stripe.StripeClient
) -> None:
    """A direct charge refused as amount_mismatch (amount_paid never set) and refunded in full
    in the Dashboard first: the receipt says 25.00 came back, as the charge on the seller's
    account says, not 0."""
    seller = await shop.seller("direct", fee_bps=1000)
    product = await shop.product(stock=5, seller=seller)
    checkout = await shop.checkout(product)
    await shop.deliver(paid_event(shop, checkout, amount_total=1250))
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["amount_paid"]) == ("refund_pending", None)
    await dashboard.v1.refunds.create_async(
        {"payment_intent": order["provider_payment_id"]},
        {"stripe_account": seller["stripe_account_id"]},
    )

    await shop.drain_outbox()

    receipt = (await shop.client.get(f"/orders/{checkout['order_id']}")).json()
    assert (receipt["status"], receipt["amount_refunded"]) == ("refunded", 2500)


async def test_charge_in_another_currency_refunded_elsewhere_is_recorded_in_its_currency(
    shop: Shop, dashboard: stripe.StripeClient
) -> None:
    """A 25.00 USD order paid with a 23.00 EUR charge (currency_mismatch), then 10.00 and
    13.00 EUR refunded in the Dashboard: the order records both, in EUR, as Stripe holds
    them; its own refund found nothing left."""
    checkout = await shop.checkout(await shop.product(stock=5))
    payment_id = await paid_in_euros(shop, dashboard, checkout, amount=2300)
    for amount in (1000, 1300):
        await dashboard.v1.refunds.create_async({"payment_intent": payment_id, "amount": amount})

    await shop.drain_outbox()

    order = await shop.order(checkout["order_id"])
    assert order["status"] == "refunded"
    theirs = [r.refund["id"] for r in shop.fake.refunds()]
    assert sorted(
        (r["amount"], r["currency"], r["provider_refund_id"] or "", r["status"])
        for r in order["refunds"]
    ) == [
        (1000, "eur", theirs[0], "succeeded"),
        (1300, "eur", theirs[1], "succeeded"),
        (2300, "eur", "", "canceled"),  # ours: nothing was left
    ]


async def paid_in_euros(
    shop: Shop, dashboard: stripe.StripeClient, checkout: dict, *, amount: int
) -> str:
    """The order's session reported paid in EUR, with a real EUR charge behind it (made through
    another session); returns its PaymentIntent."""
    eur = await dashboard.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": amount,
                        "product_data": {"name": "Concert ticket"},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": "http://shop.test/s",
            "cancel_url": "http://shop.test/c",
        }
    )
    payment_id = str(shop.fake.complete_session(eur.id, outcome="paid")["payment_intent"])
    event = paid_event(
        shop, checkout, currency="eur", amount_total=amount, payment_intent=payment_id
    )
    assert (await shop.deliver(event)).json()["outcome"] == "payment_mismatch"
    return payment_id
