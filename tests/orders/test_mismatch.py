"""confirm_payment checks currency and amount: a payment the order's rules do not allow is
recorded with its event, flagged for a human, never confirmed, and refunded if money moved."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Shop


async def two_orders(
    shop: Shop, *, seller: dict | None = None, amount: int = 2500
) -> tuple[dict, dict, dict, dict]:
    """The order under test and a bystander of another product, both pending, stock 5 each."""
    product = await shop.product(stock=5, seller=seller, unit_amount=amount)
    other = await shop.product(stock=5, seller=seller, unit_amount=amount)
    return product, other, await shop.checkout(product), await shop.checkout(other)


def session_event(
    shop: Shop, checkout: dict, type: str = "checkout.session.completed", **changes: Any
) -> dict:
    """A signed event about the session as the sandbox holds it now, with `changes` applied."""
    session = dict(shop.fake.get_session(checkout["session_id"]), **changes)
    account = shop.fake.account_of(checkout["session_id"])
    return shop.fake.make_event(type, session, account=account)


def paid_event(shop: Shop, checkout: dict, **changes: Any) -> dict:
    """The buyer pays by card; checkout.session.completed for it, with `changes` applied."""
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    return session_event(shop, checkout, **changes)


def free_event(shop: Shop, checkout: dict) -> dict:
    """checkout.session.completed as a 100% promotion code leaves it: 0 due, no PaymentIntent."""
    return session_event(
        shop,
        checkout,
        status="complete",
        payment_status="no_payment_required",
        amount_total=0,
        payment_intent=None,
    )


async def owed_keys(shop: Shop, order_id: str) -> list[str]:
    """The outbox key of each refund the order owes: `refund:<refund id>`."""
    return [f"refund:{refund['id']}" for refund in (await shop.order(order_id))["refunds"]]


async def outbox_keys(db) -> list[str]:
    return [r["idempotency_key"] for r in await db.fetch("SELECT idempotency_key FROM outbox")]


async def test_session_paid_in_another_currency_does_not_pay_the_order(shop: Shop, db) -> None:
    """A signed session in eur for 1 cent: flagged, refund queued, nothing confirmed or taken."""
    product, other, checkout, bystander = await two_orders(shop)
    event = paid_event(shop, checkout, currency="eur", amount_total=1)

    response = await shop.deliver(event)

    assert response.json() == {"received": True, "outcome": "payment_mismatch"}
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"], order["cancel_reason"]) == (
        "refund_pending",
        "currency_mismatch",
        "currency_mismatch",
    )
    assert (order["amount_paid"], order["paid_at"]) == (None, None)
    assert order["provider_payment_id"] == event["data"]["object"]["payment_intent"]
    assert (await shop.stock(product), await shop.stock(other)) == (5, 5)
    stored = await db.fetchval("SELECT outcome FROM webhook_events WHERE event_id=$1", event["id"])
    assert stored == "payment_mismatch"
    assert await outbox_keys(db) == await owed_keys(shop, checkout["order_id"])
    untouched = await shop.order(bystander["order_id"])
    assert (untouched["status"], untouched["review_reason"]) == ("pending", None)


async def test_refund_of_a_mismatched_payment_gives_back_what_stripe_holds(shop: Shop) -> None:
    """The queued refund goes to Stripe for the whole charge and closes the order refunded."""
    _product, _other, checkout, _bystander = await two_orders(shop)
    await shop.deliver(paid_event(shop, checkout, currency="eur", amount_total=1))

    await shop.drain_outbox()

    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"]) == ("refunded", "currency_mismatch")
    [refund] = shop.fake.refunds()
    assert refund.refund["payment_intent"] == order["provider_payment_id"]
    assert "amount" not in refund.request_params
    assert refund.request_params["metadata"] == {
        "order_id": checkout["order_id"],
        "refund_id": order["refunds"][0]["id"],
        "reason": "currency_mismatch",
    }
    assert [(r["amount"], r["currency"], r["reason"]) for r in order["refunds"]] == [
        (2500, "usd", "currency_mismatch")
    ]


async def test_less_than_the_total_without_promotion_codes_is_refused(shop: Shop, db) -> None:
    """A seller's order that carries a fee takes no discount: 12.50 of 25.00 is refunded."""
    seller = await shop.seller("direct", fee_bps=1000)
    product, _other, checkout, _bystander = await two_orders(shop, seller=seller)

    response = await shop.deliver(paid_event(shop, checkout, amount_total=1250))

    assert response.json()["outcome"] == "payment_mismatch"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"]) == ("refund_pending", "amount_mismatch")
    assert await shop.stock(product) == 5
    await shop.drain_outbox()
    [refund] = shop.fake.refunds()
    assert refund.account == seller["stripe_account_id"]
    assert (await shop.order(checkout["order_id"]))["status"] == "refunded"


async def test_more_than_the_total_is_refused_even_with_promotion_codes(shop: Shop, db) -> None:
    """Promotion codes lower a price, never raise it: 30.00 for a 25.00 order is a mismatch."""
    product, _other, checkout, _bystander = await two_orders(shop)

    response = await shop.deliver(paid_event(shop, checkout, amount_total=3000))

    assert response.json()["outcome"] == "payment_mismatch"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"]) == ("refund_pending", "amount_mismatch")
    assert await shop.stock(product) == 5


async def test_discounted_amount_pays_an_order_that_allows_promotion_codes(shop: Shop) -> None:
    """With promotion codes allowed, any amount from 0 to the total is a valid payment."""
    product, other, checkout, _bystander = await two_orders(shop)

    response = await shop.deliver(paid_event(shop, checkout, amount_total=1250))

    assert response.json()["outcome"] == "paid"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["amount_paid"], order["review_reason"]) == ("paid", 1250, None)
    assert (await shop.stock(product), await shop.stock(other)) == (4, 5)


@pytest.mark.parametrize("currency", ["USD", "Usd"])
async def test_currency_is_compared_without_regard_to_case(shop: Shop, currency: str) -> None:
    """Stripe's currencies are lower-case ISO codes; an upper-case one is the same currency."""
    _product, _other, checkout, _bystander = await two_orders(shop)

    response = await shop.deliver(paid_event(shop, checkout, currency=currency))

    assert response.json()["outcome"] == "paid"


async def test_free_signal_on_an_order_that_carries_a_fee_is_flagged_not_paid(
    shop: Shop, db
) -> None:
    """A 100% code on a fee-carrying session: not paid, no fee kept, flagged; nothing to refund."""
    seller = await shop.seller("destination", fee_bps=1000)
    product, _other, checkout, _bystander = await two_orders(shop, seller=seller)

    response = await shop.deliver(free_event(shop, checkout))

    assert response.json()["outcome"] == "payment_mismatch"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"], order["cancel_reason"]) == (
        "pending",
        "amount_mismatch",
        None,
    )
    assert (order["amount_paid"], order["provider_payment_id"]) == (None, None)
    assert await shop.stock(product) == 5
    assert await outbox_keys(db) == []


async def test_free_signal_pays_an_order_whose_total_is_zero(shop: Shop) -> None:
    """A free product needs no promotion code to be free: total 0, paid 0, confirmed."""
    seller = await shop.seller("direct", fee_bps=1000)
    product, _other, checkout, _bystander = await two_orders(shop, seller=seller, amount=0)

    response = await shop.deliver(free_event(shop, checkout))

    assert response.json()["outcome"] == "paid"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["amount_paid"], order["application_fee_amount"]) == (
        "paid",
        0,
        0,
    )
    assert await shop.stock(product) == 4


async def test_same_mismatched_event_twice_flags_once_and_queues_one_refund(shop: Shop, db) -> None:
    """A redelivered mismatch, and another mismatch after it, change nothing more."""
    _product, _other, checkout, _bystander = await two_orders(shop)
    event = paid_event(shop, checkout, currency="eur")
    await shop.deliver(event)

    again = await shop.deliver(event)
    other_mismatch = await shop.deliver(session_event(shop, checkout, amount_total=3000))

    assert again.json()["outcome"] == "duplicate"
    assert other_mismatch.json()["outcome"] == "payment_mismatch"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"]) == ("refund_pending", "currency_mismatch")
    assert await outbox_keys(db) == await owed_keys(shop, checkout["order_id"])
    await shop.drain_outbox()
    assert len(shop.fake.refunds()) == 1


async def test_verify_of_a_session_in_another_currency_flags_once(shop: Shop, db) -> None:
    """The verify path checks the same rules: twice asked, one flag, one refund queued."""
    product, _other, checkout, _bystander = await two_orders(shop)
    # The order was priced in eur, but the session Stripe holds is in usd.
    await db.execute(
        "UPDATE orders SET currency = 'eur' WHERE id = $1", uuid.UUID(checkout["order_id"])
    )
    shop.fake.complete_session(checkout["session_id"], outcome="paid")

    first = await shop.verify(checkout["session_id"])
    second = await shop.verify(checkout["session_id"])

    expected = {"order_id": checkout["order_id"], "status": "refund_pending", "paid": False}
    assert (first.json(), second.json()) == (expected, expected)
    order = await shop.order(checkout["order_id"])
    assert (order["review_reason"], order["confirmed_via"]) == ("currency_mismatch", None)
    assert await shop.stock(product) == 5
    assert await outbox_keys(db) == await owed_keys(shop, checkout["order_id"])


async def test_verify_of_a_mismatch_without_money_keeps_the_order_open(shop: Shop, db) -> None:
    """Nothing was charged: the order is flagged once and stays pending, nothing queued."""
    product, _other, checkout, _bystander = await two_orders(shop)
    shop.fake.complete_session(checkout["session_id"], outcome="free")
    # As if the order had been made to refuse promotion codes.
    await db.execute(
        "UPDATE orders SET allow_promotion_codes = false WHERE id = $1",
        uuid.UUID(checkout["order_id"]),
    )

    first = await shop.verify(checkout["session_id"])
    second = await shop.verify(checkout["session_id"])

    assert first.json()["status"] == second.json()["status"] == "pending"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"]) == ("pending", "amount_mismatch")
    assert await shop.stock(product) == 5
    assert await outbox_keys(db) == []


async def test_mismatch_after_the_order_was_paid_only_flags_it(shop: Shop, db) -> None:
    """A contradicting signal for a paid order is for a human: it stays paid, nothing refunded."""
    product, _other, checkout, _bystander = await two_orders(shop)
    await shop.deliver(paid_event(shop, checkout))

    response = await shop.deliver(session_event(shop, checkout, currency="eur"))

    assert response.json()["outcome"] == "payment_mismatch"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"], order["amount_paid"]) == (
        "paid",
        "currency_mismatch",
        2500,
    )
    assert await shop.stock(product) == 4
    assert await outbox_keys(db) == []


async def test_valid_payment_after_a_mismatch_does_not_undo_the_refund(shop: Shop, db) -> None:
    """Once a mismatch queued the refund, a valid signal finds the order settled: no stock."""
    product, _other, checkout, _bystander = await two_orders(shop)
    await shop.deliver(paid_event(shop, checkout, amount_total=3000))

    response = await shop.deliver(session_event(shop, checkout))

    assert response.json()["outcome"] == "already_processed"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"]) == ("refund_pending", "amount_mismatch")
    assert await shop.stock(product) == 5


async def test_mismatched_payment_for_an_expired_order_is_refunded(shop: Shop, db) -> None:
    """Money that arrives in the wrong currency after expiry is still given back."""
    _product, _other, checkout, _bystander = await two_orders(shop)
    await shop.deliver(session_event(shop, checkout, "checkout.session.expired", status="expired"))
    assert (await shop.order(checkout["order_id"]))["status"] == "expired"

    await shop.deliver(paid_event(shop, checkout, currency="eur"))

    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["review_reason"]) == ("refund_pending", "currency_mismatch")
