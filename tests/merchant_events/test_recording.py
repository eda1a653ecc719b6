"""Events for the shop are written with the change they report: one per change, none for a
change that rolled back, only for the endpoints subscribed to their type."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from payments.merchant_events import render
from payments.models import ConfirmedVia
from payments.orders.confirm import Result, confirm_payment
from payments.providers.base import Outcome, PaymentSignal
from tests.conftest import Shop

RECEIVER = "https://shop.example.com/webhooks"


async def endpoint(shop: Shop, *events: str, url: str = RECEIVER) -> str:
    created = await shop.client.post(
        "/admin/webhook-endpoints",
        json={"url": url, "events": list(events) or ["*"]},
        headers=shop.admin,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def told(db: Any, endpoint_id: str | None = None) -> list[tuple[str, str]]:
    """(type, order id) of every event, oldest first; with an endpoint: those it gets."""
    rows = await db.fetch(
        "SELECT e.type, e.order_id::text AS order_id FROM merchant_events e"
        " WHERE $1::uuid IS NULL OR EXISTS (SELECT FROM event_deliveries d"
        "   WHERE d.event_id = e.id AND d.endpoint_id = $1::uuid)"
        " ORDER BY e.created_at, e.id",
        uuid.UUID(endpoint_id) if endpoint_id else None,
    )
    return [(row["type"], row["order_id"]) for row in rows]


async def data_of(db: Any, event_type: str, order_id: str) -> dict[str, Any]:
    """The `data` the event carries: rendered when written, or from the fast path's rows."""
    row = await db.fetchrow(
        "SELECT data, snapshot FROM merchant_events WHERE type = $1 AND order_id = $2",
        event_type,
        uuid.UUID(order_id),
    )
    if row["data"] is not None:
        return dict(json.loads(row["data"]))
    return dict(json.loads(render.order_data_from_snapshot(json.loads(row["snapshot"]))))


async def test_no_endpoint_no_events(shop: Shop, db) -> None:
    """Without an endpoint nothing is written: the tables do not grow for nobody."""
    await shop.paid()
    assert await told(db) == []


async def test_one_order_paid_per_order_when_its_event_storms_and_verify_races(
    shop: Shop, db
) -> None:
    """Each checkout event delivered five times at once while the buyer's verify races them:
    every order is paid once and the shop is told once, with one delivery per endpoint."""
    first, second = await endpoint(shop), await endpoint(shop, "order.paid")
    checkouts = []
    for _ in range(4):
        product = await shop.product()
        checkout = await shop.checkout(product)
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
        checkouts.append((checkout, shop.fake.last_event("checkout.session.completed")))

    calls = []
    for checkout, event in checkouts:
        calls += [shop.deliver(event) for _ in range(5)]
        calls += [shop.verify(checkout["session_id"]) for _ in range(2)]
    answers: list[httpx.Response] = await asyncio.gather(*calls)

    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    orders = sorted(checkout["order_id"] for checkout, _ in checkouts)
    assert sorted(order for _, order in await told(db, first)) == orders
    assert sorted(order for _, order in await told(db, second)) == orders
    assert {kind for kind, _ in await told(db)} == {"order.paid"}
    deliveries = await db.fetchval("SELECT count(*) FROM event_deliveries")
    assert deliveries == 2 * len(orders)


async def test_order_paid_carries_the_admin_json_after_the_change(shop: Shop, db) -> None:
    """The data is the order as GET /admin/orders/{id} shows it once paid (the one-statement
    path keeps the rows; rendered, they read the same)."""
    await endpoint(shop, "order.paid")
    order = await shop.paid()
    assert await data_of(db, "order.paid", order["id"]) == order
    assert order["status"] == "paid"


async def test_general_path_and_one_statement_tell_the_same(shop: Shop, db, app) -> None:
    """Paid through the general path (a transaction, as on SQLite) and through the one
    statement, two like orders carry events whose data differ only in ids and times."""
    await endpoint(shop, "order.paid")
    product = await shop.product(stock=5)
    general, fast = await shop.checkout(product), await shop.checkout(product)
    for checkout in (general, fast):
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
    session = shop.fake.last_event("checkout.session.completed")["data"]["object"]
    async with app.state.database.transaction() as tx:
        signal = PaymentSignal(
            general["session_id"], None, Outcome.PAID, 2500, "usd", session["payment_intent"]
        )
        done = await confirm_payment(tx, signal, via=ConfirmedVia.WEBHOOK)
        assert done.result is Result.PAID
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))

    general_data = await data_of(db, "order.paid", general["order_id"])
    fast_data = await data_of(db, "order.paid", fast["order_id"])
    varying = {"id", "created_at", "updated_at", "paid_at", "provider_session_id"}
    varying |= {"provider_payment_id", "customer_email"}

    def same(data: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in data.items() if key not in varying}

    assert same(general_data) == same(fast_data)
    assert general_data["status"] == fast_data["status"] == "paid"
    assert general_data == await shop.order(general["order_id"])


class _Undone(Exception):
    pass


async def test_no_event_for_a_change_that_rolled_back(shop: Shop, db, app) -> None:
    """The order was paid in a transaction that then failed: no event; paid for real, one."""
    await endpoint(shop)
    product = await shop.product()
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    session = shop.fake.last_event("checkout.session.completed")["data"]["object"]
    signal = PaymentSignal(
        checkout["session_id"], None, Outcome.PAID, 2500, "usd", session["payment_intent"]
    )

    async def pay_then_fail() -> None:
        async with app.state.database.transaction() as tx:
            done = await confirm_payment(tx, signal, via=ConfirmedVia.VERIFY)
            assert done.result is Result.PAID
            raise _Undone

    with pytest.raises(_Undone):
        await pay_then_fail()

    assert await told(db) == []
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    assert await told(db) == [("order.paid", checkout["order_id"])]


async def test_endpoint_for_order_refunded_gets_nothing_else(shop: Shop, db) -> None:
    """One endpoint takes only `order.refunded`, another everything: paid, refunded in two
    parts (the refunds succeed at Stripe), the first hears of the last step only."""
    only_refunded, everything = await endpoint(shop, "order.refunded"), await endpoint(shop)
    order = await shop.paid()
    await shop.refund(order["id"], amount=1000)
    await shop.drain_outbox()
    await shop.refund(order["id"])
    await shop.drain_outbox()

    assert await told(db, only_refunded) == [("order.refunded", order["id"])]
    kinds = [kind for kind, _ in await told(db, everything)]
    assert sorted(kinds) == sorted(
        [
            "order.paid",
            "order.partially_refunded",
            "refund.succeeded",
            "order.refunded",
            "refund.succeeded",
        ]
    )
    refunded = await data_of(db, "order.refunded", order["id"])
    assert (refunded["status"], refunded["amount_refunded"]) == ("refunded", 2500)


async def test_refund_failing_later_is_told_by_refund_failed_not_order_paid(shop: Shop, db) -> None:
    """A full refund fails at the bank: the order is `paid` again, which the shop learns
    from `refund.failed`; `order.paid` is never sent twice (it would fulfil twice)."""
    await endpoint(shop)
    order = await shop.paid()
    await shop.refund(order["id"])
    await shop.drain_outbox()
    ours = shop.fake.refunds()[0].refund
    shop.fake.fail_refund(ours["id"])
    for event in reversed(shop.fake.events()):
        if event["type"] == "refund.failed" and event["data"]["object"]["id"] == ours["id"]:
            await shop.deliver(event)

    kinds = [kind for kind, _ in await told(db)]
    assert kinds.count("order.paid") == 1
    assert kinds.count("refund.failed") == 1
    assert (await shop.order(order["id"]))["status"] == "paid"


async def test_oversold_order_is_never_told_paid(shop: Shop, db) -> None:
    """Two buyers paid for the last unit: one `order.paid`; the other order is told only
    once its payment went back (`order.refunded`, with its `refund.succeeded`)."""
    await endpoint(shop)
    first, second = await shop.oversold()
    assert await told(db) == [("order.paid", first["order_id"])]
    await shop.drain_outbox()
    assert sorted(await told(db)) == [
        ("order.paid", first["order_id"]),
        ("order.refunded", second["order_id"]),
        ("refund.succeeded", second["order_id"]),
    ]
    refunded = await data_of(db, "order.refunded", second["order_id"])
    assert (refunded["status"], refunded["cancel_reason"]) == ("refunded", "out_of_stock")


async def test_dispute_created_and_closed_each_once(shop: Shop, db) -> None:
    """A chargeback opened, reviewed and lost, every event delivered twice: created once,
    closed once."""
    await endpoint(shop, "dispute.created", "dispute.closed")
    order = await shop.paid()
    dispute = shop.fake.open_dispute(order["provider_payment_id"], reason="fraudulent")
    shop.fake.update_dispute(dispute["id"], "under_review")
    shop.fake.update_dispute(dispute["id"], "lost")
    mine = [e for e in shop.fake.events() if e["data"]["object"].get("id") == dispute["id"]]
    for event in reversed(mine + mine):
        await shop.deliver(event)

    assert [kind for kind, _ in await told(db)] == ["dispute.created", "dispute.closed"]
    closed = await data_of(db, "dispute.closed", order["id"])
    assert (closed["status"], closed["provider_dispute_id"]) == ("lost", dispute["id"])


async def test_disabled_and_deleted_endpoints_get_no_new_events(shop: Shop, db) -> None:
    disabled, deleted, live = await endpoint(shop), await endpoint(shop), await endpoint(shop)
    await shop.client.patch(
        f"/admin/webhook-endpoints/{disabled}", json={"enabled": False}, headers=shop.admin
    )
    await shop.client.delete(f"/admin/webhook-endpoints/{deleted}", headers=shop.admin)
    order = await shop.paid()
    assert await told(db, live) == [("order.paid", order["id"])]
    assert await told(db, disabled) == []
    assert await told(db, deleted) == []
