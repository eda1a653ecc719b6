"""Money corner cases found in review: events before the payment's own, the service's own
refund failing or canceled later, a refund sync whose totals repeat."""

from __future__ import annotations

from typing import Any

from tests.conftest import Shop
from tests.reconcile.conftest import run_pass


def events_of(shop: Shop, refund_id: str, *types: str) -> list[dict[str, Any]]:
    """The events about one refund, oldest first."""
    return [
        e
        for e in reversed(shop.fake.events())
        if e["type"] in types and e["data"]["object"]["id"] == refund_id
    ]


async def deliver_all(shop: Shop, events: list[dict[str, Any]]) -> list[str]:
    outcomes = []
    for event in events:
        response = await shop.deliver(event)
        assert response.status_code == 200, response.text
        outcomes.append(response.json()["outcome"])
    return outcomes


async def test_refund_and_dispute_events_before_the_payment_event_are_not_lost(
    shop: Shop,
) -> None:
    """A Dashboard refund's and a dispute's events arrive before checkout.session.completed
    (its first delivery failed): recorded as `unknown_payment`, then applied once by the
    next reconciliation pass, once the order has the payment."""
    product = await shop.product()
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    paid = shop.fake.last_event("checkout.session.completed")
    payment = paid["data"]["object"]["payment_intent"]
    shop.fake.refund_in_dashboard(payment, amount=1000)
    dispute = shop.fake.open_dispute(payment)
    early = [
        shop.fake.last_event("charge.refunded"),
        shop.fake.last_event("refund.created"),
        shop.fake.last_event("charge.dispute.created"),
    ]

    assert await deliver_all(shop, early) == ["unknown_payment"] * 3
    await deliver_all(shop, [paid])
    first = await run_pass(shop.app)
    second = await run_pass(shop.app)
    await shop.drain_outbox()

    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["amount_refunded"]) == ("partially_refunded", 1000)
    assert [r["amount"] for r in order["refunds"]] == [1000]
    assert [d["provider_dispute_id"] for d in order["disputes"]] == [dispute["id"]]
    assert first.summary.failed == second.summary.failed == 0
    assert second.summary.applied == 0  # adopted once


async def test_owed_refund_that_fails_later_is_owed_again(shop: Shop) -> None:
    """The out-of-stock refund succeeds, then the bank fails it: the buyer has nothing back,
    so the order owes it again (`refund_pending`, flagged), and an admin can give it back."""
    _, second = await shop.oversold()
    await shop.drain_outbox()
    assert (await shop.order(second["order_id"]))["status"] == "refunded"
    [ours] = shop.fake.refunds()
    shop.fake.fail_refund(ours.refund["id"])

    await deliver_all(shop, events_of(shop, ours.refund["id"], "refund.failed"))

    order = await shop.order(second["order_id"])
    assert (order["status"], order["amount_refunded"], order["review_reason"]) == (
        "refund_pending",
        0,
        "refund_failed",
    )
    again = await shop.refund(second["order_id"])
    assert (again.status_code, again.json()["amount"]) == (201, 2500)
    await shop.drain_outbox()
    settled = await shop.order(second["order_id"])
    assert (settled["status"], settled["amount_refunded"]) == ("refunded", 2500)
    assert len(shop.fake.refunds()) == 2


async def test_owed_refund_canceled_by_stripe_flags_the_order(shop: Shop) -> None:
    """Stripe cancels the out-of-stock refund (it sat in requires_action): nothing went back,
    so the order is flagged and owes it again, as for a failed one."""
    _, second = await shop.oversold()
    shop.fake.set_refund_status("pending")
    await shop.drain_outbox()
    [ours] = shop.fake.refunds()
    canceled = shop.fake.make_event(
        "refund.updated", {**ours.refund, "status": "canceled"}, account=None
    )

    assert await deliver_all(shop, [canceled]) == ["refund_updated"]

    order = await shop.order(second["order_id"])
    assert (order["status"], order["amount_refunded"], order["review_reason"]) == (
        "refund_pending",
        0,
        "refund_failed",
    )


async def test_charge_refunded_after_a_failed_refund_fetches_the_new_one(shop: Shop) -> None:
    """Only charge.refunded arrives for two Dashboard refunds of 500, the first failing in
    between: the second totals 500 again, and is still fetched and recorded."""
    order = await shop.paid()
    payment = order["provider_payment_id"]
    first = shop.fake.refund_in_dashboard(payment, amount=500)
    await deliver_all(shop, [shop.fake.last_event("charge.refunded")])
    await shop.drain_outbox()
    shop.fake.fail_refund(first["id"])
    await deliver_all(shop, events_of(shop, first["id"], "refund.failed"))
    shop.fake.refund_in_dashboard(payment, amount=500)

    outcome = await deliver_all(shop, [shop.fake.last_event("charge.refunded")])
    await shop.drain_outbox()

    after = await shop.order(order["id"])
    assert outcome == ["refunds_to_fetch"]
    assert sorted((r["amount"], r["status"]) for r in after["refunds"]) == [
        (500, "failed"),
        (500, "succeeded"),
    ]
    assert after["amount_refunded"] == 500


async def test_partial_dashboard_refund_does_not_settle_an_owed_order(shop: Shop) -> None:
    """Out of stock, our refund of what remains not sent yet; the Dashboard gives back 100:
    the order still owes 2400, so it stays refund_pending until ours goes out."""
    _, second = await shop.oversold()
    order = await shop.order(second["order_id"])
    shop.fake.refund_in_dashboard(order["provider_payment_id"], amount=100)
    [created] = shop.fake.events("refund.created")

    assert (await shop.deliver(created)).json()["outcome"] == "refund_recorded"

    after = await shop.order(second["order_id"])
    ours = [r for r in after["refunds"] if r["reason"] == "out_of_stock"]
    assert [(r["amount"], r["status"], r["provider_refund_id"]) for r in ours] == [
        (2400, "pending", None)
    ]
    assert after["status"] == "refund_pending"
    await shop.drain_outbox()
    settled = await shop.order(second["order_id"])
    assert (settled["status"], settled["amount_refunded"]) == ("refunded", 2500)
    assert sorted(r.refund["amount"] for r in shop.fake.refunds()) == [100, 2400]
