"""Disputes from Stripe's events: each recorded once, whichever event comes first, its status
only moving forward; never a change to the order's status or stock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.conftest import Shop


def dispute_events(shop: Shop, dispute_id: str) -> dict[str, list[dict[str, Any]]]:
    """The events about one dispute by type, oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for event in reversed(shop.fake.events()):
        if event["data"]["object"].get("id") == dispute_id:
            found.setdefault(event["type"], []).append(event)
    return found


async def outcomes(shop: Shop, events: list[dict[str, Any]]) -> list[str]:
    answers = [await shop.deliver(e) for e in events]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return [a.json()["outcome"] for a in answers]


async def test_direct_charge_dispute_closed_arrives_before_created(shop: Shop) -> None:
    """A dispute on a direct-charge order, won: its events reach the Connect endpoint, the
    `closed` first. It is recorded won once; the late `created` and `updated` change
    nothing; the order's status and stock stay as they were."""
    seller = await shop.seller("direct")
    product = await shop.product(seller=seller, stock=5)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    order = await shop.order(checkout["order_id"])
    dispute = shop.fake.open_dispute(order["provider_payment_id"], reason="fraudulent")
    shop.fake.update_dispute(dispute["id"], "under_review")
    shop.fake.update_dispute(dispute["id"], "won")
    by_type = dispute_events(shop, dispute["id"])
    assert all(e["account"] == seller["stripe_account_id"] for es in by_type.values() for e in es)
    late = [
        *by_type["charge.dispute.closed"],
        *by_type["charge.dispute.created"],
        *by_type["charge.dispute.updated"],
        *by_type["charge.dispute.funds_withdrawn"],
        *by_type["charge.dispute.funds_reinstated"],
    ]

    got = await outcomes(shop, late + late)

    assert got[0] == "dispute_recorded"
    assert set(got[1 : len(late)]) == {"already_processed"}
    assert set(got[len(late) :]) == {"duplicate"}
    after = await shop.order(checkout["order_id"])
    assert [
        (d["provider_dispute_id"], d["status"], d["amount"], d["reason"]) for d in after["disputes"]
    ] == [(dispute["id"], "won", 2500, "fraudulent")]
    assert (after["status"], after["amount_refunded"]) == ("paid", 0)
    assert await shop.stock(product) == 4


async def test_dispute_events_in_order_move_it_forward_once(shop: Shop) -> None:
    """created, updated (under_review), closed (lost), each delivered twice: the dispute ends
    lost; a late `updated` saying under_review after it closed changes nothing."""
    order = await shop.paid()
    dispute = shop.fake.open_dispute(order["provider_payment_id"], reason="product_not_received")
    shop.fake.update_dispute(dispute["id"], "under_review")
    shop.fake.update_dispute(dispute["id"], "lost")
    by_type = dispute_events(shop, dispute["id"])
    [created] = by_type["charge.dispute.created"]
    [updated_review, updated_lost] = by_type["charge.dispute.updated"]
    [closed] = by_type["charge.dispute.closed"]

    got = await outcomes(shop, [created, created, updated_review, closed, updated_lost])
    late = await outcomes(shop, [{**updated_review, "id": updated_review["id"] + "_late"}])

    assert got == [
        "dispute_recorded",
        "duplicate",
        "dispute_updated",
        "dispute_updated",
        "already_processed",
    ]
    assert late == ["already_processed"]
    [stored] = (await shop.order(order["id"]))["disputes"]
    assert (stored["status"], stored["reason"]) == ("lost", "product_not_received")


async def test_disputes_needing_a_response_soonest_due_first(shop: Shop) -> None:
    """GET /admin/disputes?status=needs_response lists the open ones by evidence deadline;
    closed ones are left out."""
    orders = [await shop.paid() for _ in range(3)]
    disputes = [shop.fake.open_dispute(o["provider_payment_id"]) for o in orders]
    # Stripe gives each its own deadline; the later-opened one is due first here.
    due = [1900000000, 1800000000, 1850000000]
    for dispute, due_by in zip(disputes, due, strict=True):
        [created] = dispute_events(shop, dispute["id"])["charge.dispute.created"]
        created["data"]["object"]["evidence_details"]["due_by"] = due_by
        await shop.deliver(created)
    shop.fake.update_dispute(disputes[2]["id"], "won")
    [closed] = dispute_events(shop, disputes[2]["id"])["charge.dispute.closed"]
    await shop.deliver(closed)

    response = await shop.client.get(
        "/admin/disputes", params={"status": "needs_response"}, headers=shop.admin
    )

    assert response.status_code == 200
    listed = response.json()["data"]
    assert [d["provider_dispute_id"] for d in listed] == [disputes[1]["id"], disputes[0]["id"]]
    assert listed[0]["evidence_due_by"] == datetime.fromtimestamp(1800000000, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    assert listed[0]["order_id"] == orders[1]["id"]
    everything = await shop.client.get("/admin/disputes", headers=shop.admin)
    assert len(everything.json()["data"]) == 3
    for typo in ("x;y", "bogus", "NEEDS_RESPONSE"):
        bad = await shop.client.get("/admin/disputes", params={"status": typo}, headers=shop.admin)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_request")
    unauthorized = await shop.client.get("/admin/disputes")
    assert unauthorized.status_code == 401


async def test_dispute_of_an_unknown_payment_is_recorded_as_such(shop: Shop) -> None:
    """A dispute event naming no order of ours is acknowledged and changes nothing."""
    order = await shop.paid()
    dispute = shop.fake.open_dispute(order["provider_payment_id"])
    [created] = dispute_events(shop, dispute["id"])["charge.dispute.created"]
    created["data"]["object"]["payment_intent"] = "pi_not_ours"

    assert await outcomes(shop, [created]) == ["unknown_payment"]
    assert (await shop.order(order["id"]))["disputes"] == []


async def test_odd_fields_in_signed_events_never_fail(shop: Shop) -> None:
    """Signed dispute and refund events with over-long or ill-typed fields are answered 200:
    an unusable dispute is recorded as such; a refund's over-long reason is dropped."""
    order = await shop.paid()
    refund = shop.fake.refund_in_dashboard(order["provider_payment_id"], amount=100)
    [refund_created] = shop.fake.events("refund.created")
    dispute = shop.fake.open_dispute(order["provider_payment_id"])
    [created] = dispute_events(shop, dispute["id"])["charge.dispute.created"]
    long_status = {**created, "id": created["id"] + "a"}
    long_status["data"] = {"object": {**created["data"]["object"], "status": "x" * 40}}
    bad_amount = {**created, "id": created["id"] + "b"}
    bad_amount["data"] = {"object": {**created["data"]["object"], "amount": True}}
    long_reason = {**refund_created}
    long_reason["data"] = {"object": {**refund, "reason": "r" * 60, "metadata": "not a map"}}

    got = await outcomes(shop, [long_status, bad_amount, long_reason])

    assert got == ["unusable_event", "unusable_event", "refund_recorded"]
    after = await shop.order(order["id"])
    assert after["disputes"] == []
    assert [(r["amount"], r["reason"]) for r in after["refunds"]] == [(100, None)]
