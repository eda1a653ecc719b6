"""The outbox's refunds: what is asked of Stripe and what is recorded, when someone else
(the Dashboard) refunded part or all of the charge first, and when an order has no amount."""

from __future__ import annotations

import uuid

import pytest
import stripe

from tests.conftest import Shop


def stripe_account(seller: dict | None) -> dict[str, str]:
    """Request options for the account the charge lives on (direct charges: the seller's)."""
    if seller is not None and seller["charge_type"] == "direct":
        return {"stripe_account": seller["stripe_account_id"]}
    return {}


def our_refunds(shop: Shop, order_id: str) -> list:
    return [r for r in shop.fake.refunds() if r.refund["metadata"].get("order_id") == order_id]


@pytest.mark.parametrize("charge_type", [None, "direct", "destination"])
async def test_refund_after_a_partial_refund_elsewhere_gives_back_what_remains(
    shop: Shop, dashboard: stripe.StripeClient, charge_type: str | None
) -> None:
    """10.00 refunded in the Dashboard first: the oversold refund takes the other 15.00."""
    seller = await shop.seller(charge_type) if charge_type else None
    first, second = await shop.oversold(seller)
    payment_id = (await shop.order(second["order_id"]))["provider_payment_id"]
    await dashboard.v1.refunds.create_async(
        {"payment_intent": payment_id, "amount": 1000}, stripe_account(seller)
    )

    await shop.drain_outbox()

    order = await shop.order(second["order_id"])
    assert order["status"] == "refunded"
    [ours] = our_refunds(shop, second["order_id"])
    assert "amount" not in ours.request_params  # Stripe refunds what remains
    sent = [r for r in shop.fake.requests if r.path == "/v1/refunds" and r.status == 200]
    key = f"refund:{order['refunds'][0]['id']}"
    assert key in {r.idempotency_key for r in sent}
    assert ours.refund["amount"] == 1500
    assert [(r["amount"], r["provider_refund_id"], r["reason"]) for r in order["refunds"]] == [
        (1500, ours.refund["id"], "out_of_stock")
    ]
    charge = shop.fake.get_object(ours.refund["charge"])
    assert (charge["amount_refunded"], charge["refunded"]) == (2500, True)
    assert (await shop.order(first["order_id"]))["refunds"] == []


async def test_charge_fully_refunded_elsewhere_still_closes_the_order(
    shop: Shop, dashboard: stripe.StripeClient
) -> None:
    """All given back in the Dashboard: Stripe refuses another refund, ours is canceled, the
    Dashboard's is fetched and recorded, and the order ends refunded."""
    _first, second = await shop.oversold()
    payment_id = (await shop.order(second["order_id"]))["provider_payment_id"]
    await dashboard.v1.refunds.create_async({"payment_intent": payment_id})

    await shop.drain_outbox()

    order = await shop.order(second["order_id"])
    assert order["status"] == "refunded"
    [theirs] = shop.fake.refunds()  # the Dashboard's only
    assert [(r["status"], r["provider_refund_id"]) for r in order["refunds"]] == [
        ("canceled", None),
        ("succeeded", theirs.refund["id"]),
    ]
    assert order["amount_refunded"] == 2500


async def test_order_with_a_payment_intent_is_refunded_at_stripe_whatever_its_amount(
    shop: Shop, db
) -> None:
    """Free means no PaymentIntent: an order whose amount is unknown still gets a real refund."""
    first, second = await shop.oversold()
    await db.execute(
        "UPDATE orders SET amount_paid = NULL WHERE id = $1", uuid.UUID(second["order_id"])
    )

    await shop.drain_outbox()

    [refund] = shop.fake.refunds()
    order = await shop.order(second["order_id"])
    assert refund.refund["payment_intent"] == order["provider_payment_id"]
    assert order["status"] == "refunded"
    assert [r["amount"] for r in order["refunds"]] == [2500]
    assert (await shop.order(first["order_id"]))["status"] == "paid"
