"""Refunds seen through Stripe's events: made in the Dashboard, failing later, delivered
twice, late and out of order, on the platform and on the Connect endpoint. No event
applies twice or moves a refund back, and what remains refundable follows the money."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from payments.outbox import OutboxWorker
from tests.conftest import Shop


def events_of(shop: Shop, refund_id: str, *types: str) -> list[dict[str, Any]]:
    """The events about one refund, oldest first."""
    found = [
        e
        for e in reversed(shop.fake.events())
        if e["type"] in types and e["data"]["object"]["id"] == refund_id
    ]
    return found


async def deliver_all(shop: Shop, events: list[dict[str, Any]]) -> list[str]:
    outcomes = []
    for event in events:
        response = await shop.deliver(event)
        assert response.status_code == 200, response.text
        outcomes.append(response.json()["outcome"])
    return outcomes


@pytest.mark.parametrize("charge_type", [None, "direct", "destination"])
async def test_dashboard_refund_is_seen_only_through_its_webhook(
    shop: Shop, charge_type: str | None
) -> None:
    """A partial refund made in the Dashboard becomes a refund row, once, on the endpoint its
    account's events arrive at (direct charges: the Connect endpoint)."""
    seller = await shop.seller(charge_type) if charge_type else None
    order = await shop.paid(seller)
    refund = shop.fake.refund_in_dashboard(order["provider_payment_id"], amount=900)
    events = shop.fake.events()[:2][::-1]  # charge.refunded, then refund.created
    assert [e["type"] for e in events] == ["charge.refunded", "refund.created"]
    assert bool(events[0].get("account")) == (charge_type == "direct")

    outcomes = await deliver_all(shop, events + events)

    assert outcomes[1] == "refund_recorded"
    assert outcomes[2:] == ["duplicate", "duplicate"]
    after = await shop.order(order["id"])
    assert [(r["amount"], r["provider_refund_id"], r["status"]) for r in after["refunds"]] == [
        (900, refund["id"], "succeeded")
    ]
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", 900)
    assert (await shop.refund(order["id"], amount=1601)).status_code == 409
    await shop.drain_outbox()  # charge.refunded found nothing unknown by then: nothing to fetch
    assert len(shop.fake.refunds()) == 1


async def test_charge_refunded_alone_fetches_the_refunds(shop: Shop) -> None:
    """Only `charge.refunded` arrives (its `refund.created` is lost): the refunds it totals
    are fetched from Stripe through the outbox and recorded once."""
    order = await shop.paid()
    shop.fake.refund_in_dashboard(order["provider_payment_id"], amount=400)
    shop.fake.refund_in_dashboard(order["provider_payment_id"], amount=600)
    [latest, earlier] = shop.fake.events("charge.refunded")

    outcomes = await deliver_all(shop, [earlier, latest])
    await shop.drain_outbox()

    assert outcomes == ["refunds_to_fetch", "refunds_to_fetch"]
    after = await shop.order(order["id"])
    assert sorted(r["amount"] for r in after["refunds"]) == [400, 600]
    assert (after["amount_refunded"], after["checks"]["ok"]) == (1000, True)
    created = shop.fake.events("refund.created")
    assert await deliver_all(shop, created) == ["already_processed", "already_processed"]


async def test_refund_that_fails_later_returns_its_amount(shop: Shop) -> None:
    """Refunded in full through the API, then the bank fails it: the order goes back to paid,
    is flagged, and the amount is refundable again; the failure applies once."""
    order = await shop.paid()
    refund_id = (await shop.refund(order["id"])).json()["id"]
    await shop.drain_outbox()
    assert (await shop.order(order["id"]))["status"] == "refunded"
    ours = shop.fake.refunds()[0].refund
    shop.fake.fail_refund(ours["id"])
    failed = events_of(shop, ours["id"], "refund.failed", "refund.updated")

    outcomes = await deliver_all(shop, failed + failed)

    assert outcomes == ["refund_updated", "already_processed", "duplicate", "duplicate"]
    after = await shop.order(order["id"])
    assert [(r["id"], r["status"], r["failure_reason"]) for r in after["refunds"]] == [
        (refund_id, "failed", "expired_or_canceled_card")
    ]
    assert (after["status"], after["amount_refunded"], after["review_reason"]) == (
        "paid",
        0,
        "refund_failed",
    )
    again = await shop.refund(order["id"])
    assert (again.status_code, again.json()["amount"]) == (201, 2500)


async def test_events_out_of_order_never_move_a_refund_back(shop: Shop) -> None:
    """A pending refund settles; its `refund.updated` (succeeded) arrives before the
    `refund.created` (pending) of the API call, and both come twice: it ends succeeded."""
    order = await shop.paid()
    shop.fake.set_refund_status("pending")
    await shop.refund(order["id"], amount=1200)
    await shop.drain_outbox()
    ours = shop.fake.refunds()[0].refund
    shop.fake.settle_refund(ours["id"])
    created = events_of(shop, ours["id"], "refund.created")
    updated = events_of(shop, ours["id"], "refund.updated")

    outcomes = await deliver_all(shop, updated + created + updated + created)

    assert outcomes == ["refund_updated", "already_processed", "duplicate", "duplicate"]
    after = await shop.order(order["id"])
    assert [(r["status"], r["provider_refund_id"]) for r in after["refunds"]] == [
        ("succeeded", ours["id"])
    ]
    assert after["amount_refunded"] == 1200


async def test_webhook_before_the_outbox_records_the_answer(shop: Shop, db) -> None:
    """Stripe made our refund but its answer was not recorded (the worker lost its claim):
    `refund.created` finds our row by the id in its metadata, and the retry (same key, the
    same refund back) records nothing more."""
    order = await shop.paid()
    refund_id = (await shop.refund(order["id"], amount=500)).json()["id"]
    stalled = await shop.app.state.outbox._claim()
    await db.execute("UPDATE outbox SET next_attempt_at = now() - interval '1 second'")
    holder = await OutboxWorker(shop.app.state.database, shop.app.state.provider)._claim()
    await shop.app.state.outbox._deliver(stalled)  # Stripe refunds; the answer is dropped
    assert (await shop.order(order["id"]))["refunds"][0]["provider_refund_id"] is None
    [created] = shop.fake.events("refund.created")

    assert (await shop.deliver(created)).json()["outcome"] == "refund_updated"
    await shop.app.state.outbox._deliver(holder)

    after = await shop.order(order["id"])
    [made] = shop.fake.refunds()
    assert [(r["id"], r["status"], r["provider_refund_id"]) for r in after["refunds"]] == [
        (refund_id, "succeeded", made.refund["id"])
    ]
    assert after["amount_refunded"] == 500


async def test_dashboard_refund_of_everything_beside_one_not_sent_yet(
    shop: Shop, dashboard: stripe.StripeClient
) -> None:
    """1500 asked through the API (not sent yet), then all 2500 refunded in the Dashboard:
    ours could never succeed, so it is canceled to make room, and never sent."""
    order = await shop.paid()
    ours = (await shop.refund(order["id"], amount=1500)).json()
    shop.fake.refund_in_dashboard(order["provider_payment_id"])
    [created] = shop.fake.events("refund.created")

    assert (await shop.deliver(created)).json()["outcome"] == "refund_recorded"
    await shop.drain_outbox()

    after = await shop.order(order["id"])
    statuses = {r["id"]: (r["status"], r["failure_reason"]) for r in after["refunds"]}
    assert statuses[ours["id"]] == ("canceled", "refunded_elsewhere")
    assert (after["status"], after["amount_refunded"], after["checks"]["ok"]) == (
        "refunded",
        2500,
        True,
    )
    assert len(shop.fake.refunds()) == 1  # the Dashboard's; ours was never sent


async def test_refund_event_of_another_account_changes_nothing(shop: Shop) -> None:
    """A direct charge's refund event arriving without its account (the platform endpoint)
    does not match the order: refunds live on the connected account."""
    seller = await shop.seller("direct")
    order = await shop.paid(seller)
    shop.fake.refund_in_dashboard(order["provider_payment_id"], amount=300)
    [created] = shop.fake.events("refund.created")
    forged = {**created, "id": created["id"] + "x"}
    forged.pop("account")

    response = await shop.deliver(forged)

    assert response.json()["outcome"] == "unknown_payment"
    assert (await shop.order(order["id"]))["refunds"] == []
