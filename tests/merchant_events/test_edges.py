"""Edges found in review: every change told even when a refund is canceled or several
land at once; admins never block payments; no delivery left pending forever."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from tests.conftest import Shop
from tests.merchant_events.conftest import add_endpoint, make_due, the_delivery_to
from tests.merchant_events.test_recording import endpoint, told
from tests.refunds.test_refund_corner_cases import deliver_all


async def test_refund_canceled_at_stripe_is_told_as_failed(shop: Shop, db) -> None:
    """A pending refund Stripe cancels gave nothing back: `refund.failed`, with the
    refund's status `canceled`, so the shop does not believe the money went back."""
    await endpoint(shop)
    order = await shop.paid()
    shop.fake.set_refund_status("pending")
    await shop.refund(order["id"])
    await shop.drain_outbox()
    [ours] = shop.fake.refunds()
    canceled = shop.fake.make_event(
        "refund.updated", {**ours.refund, "status": "canceled"}, account=None
    )
    assert await deliver_all(shop, [canceled]) == ["refund_updated"]

    assert [kind for kind, _ in await told(db)] == [
        "order.paid",
        "order.refunded",
        "refund.failed",
    ]
    data = json.loads(
        await db.fetchval("SELECT data FROM merchant_events WHERE type = $1", "refund.failed")
    )
    assert data["status"] == "canceled"
    assert (await shop.order(order["id"]))["status"] == "paid"


async def test_two_refunds_recorded_at_once_are_one_order_event(shop: Shop, db) -> None:
    """Two Dashboard refunds (1000 + 1500 of 2500) fetched in one transaction: the order is
    told once, `order.refunded`, never `order.partially_refunded` carrying `refunded`."""
    await endpoint(shop)
    order = await shop.paid()
    shop.fake.refund_in_dashboard(order["provider_payment_id"], amount=1000)
    shop.fake.refund_in_dashboard(order["provider_payment_id"], amount=1500)
    await deliver_all(shop, [shop.fake.last_event("charge.refunded")])
    await shop.drain_outbox()

    rows = await db.fetch("SELECT type, data FROM merchant_events WHERE type LIKE 'order.%'")
    told_now = sorted((row["type"], json.loads(row["data"] or "{}").get("status")) for row in rows)
    assert told_now == [("order.paid", None), ("order.refunded", "refunded")]
    refunds = await db.fetchval(
        "SELECT count(*) FROM merchant_events WHERE type = $1", "refund.succeeded"
    )
    assert refunds == 2


async def test_admin_changing_an_endpoint_never_blocks_a_payment(
    shop: Shop, db, database_url
) -> None:
    """While an admin's transaction holds the endpoint row as the endpoint routes do
    (FOR NO KEY UPDATE), a payment still writes its event and delivery and answers."""
    endpoint_id = await endpoint(shop)
    product = await shop.product()
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    event = shop.fake.last_event("checkout.session.completed")
    admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        async with admin.transaction():
            await admin.execute(
                "SELECT 1 FROM webhook_endpoints WHERE id = $1 FOR NO KEY UPDATE",
                uuid.UUID(endpoint_id),
            )
            # Bounded only so that a regression fails instead of hanging the suite.
            answer = await asyncio.wait_for(shop.deliver(event), timeout=60)
            assert answer.json()["outcome"] == "paid"
    finally:
        await admin.close()
    assert await told(db) == [("order.paid", checkout["order_id"])]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("UPDATE webhook_endpoints SET deleted_at = now()", "the endpoint was deleted"),
        ("UPDATE webhook_endpoints SET events = '[\"order.refunded\"]'", "no longer takes"),
    ],
    ids=["deleted", "unsubscribed"],
)
async def test_delivery_its_endpoint_no_longer_takes_dies_at_its_claim(
    shop: Shop, db, receivers, change, why
) -> None:
    """A delivery written as its endpoint was deleted (or unsubscribed from its type), as
    a race leaves it: never sent, and dead, not pending forever."""
    receiver = await receivers()
    endpoint = await add_endpoint(db, receiver.url)
    await shop.paid()
    await db.execute(change)

    await shop.app.state.event_sender.drain()

    assert receiver.requests == []
    delivery = await the_delivery_to(db, endpoint)
    assert delivery["status"] == "dead"
    assert why in delivery["last_error"]


async def test_url_the_sender_cannot_encode_fails_and_follows_the_schedule(shop: Shop, db) -> None:
    """An endpoint saved before names were checked, with an invalid punycode host: each
    attempt fails, is counted, and the schedule goes on (it is not claimed forever)."""
    endpoint = await add_endpoint(db, "https://xn--a.com/hooks")
    await shop.paid()
    for _ in range(2):
        await make_due(db)
        await shop.app.state.event_sender.drain()

    delivery = await the_delivery_to(db, endpoint)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 2)
    assert delivery["last_error"]


async def test_punycode_that_is_not_valid_is_refused_when_saved(shop: Shop) -> None:
    created = await shop.client.post(
        "/admin/webhook-endpoints",
        json={"url": "https://xn--a.com/hooks", "events": ["*"]},
        headers=shop.admin,
    )
    assert created.status_code == 422
    assert created.json()["error"]["code"] == "invalid_endpoint_url"
