"""A reconciliation pass (payments.reconcile.service) against the sandbox Stripe over HTTP:
events the service never received are applied once, through the webhook's own code."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import asyncpg

from payments.reconcile.service import Summary
from tests.conftest import UNTOUCHED, Shop

from .conftest import expire_checkout, no_events, recorded_events, run_pass

ORDERS = 50
STOCK = 100


async def test_an_outage_of_fifty_paid_orders_is_confirmed_once_each(
    shop: Shop, db: asyncpg.Connection
) -> None:
    """No webhook came for 50 paid orders (platform, a direct seller's connected account, a
    destination seller): one pass confirms each once, takes stock once and records each
    event once; a second pass applies nothing."""
    direct = await shop.seller("direct")
    destination = await shop.seller("destination")
    products = [
        await shop.product(stock=STOCK),
        await shop.product(stock=STOCK, seller=direct),
        await shop.product(stock=STOCK, seller=destination),
    ]
    bystander = await shop.bystander()
    checkouts = [await shop.checkout(products[i % 3]) for i in range(ORDERS)]
    for checkout in checkouts:
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
    events = shop.fake.events("checkout.session.completed")
    assert not shop.fake.deliveries  # the sandbox recorded the events and delivered none

    started = time.monotonic()
    first = await run_pass(shop.app)
    first_seconds = time.monotonic() - started
    started = time.monotonic()
    second = await run_pass(shop.app)
    second_seconds = time.monotonic() - started
    print(f"\nfirst pass: {first.summary.line()} in {first_seconds:.2f}s")
    print(f"second pass: {second.summary.line()} in {second_seconds:.2f}s")

    assert first.summary == Summary(seen=ORDERS, recorded_before=0, applied=ORDERS, failed=0)
    assert second.summary == Summary(seen=ORDERS, recorded_before=ORDERS, applied=0, failed=0)
    assert first.accounts == (
        None,
        *sorted([direct["stripe_account_id"], destination["stripe_account_id"]]),
    )
    for checkout in checkouts:
        order = await shop.order(checkout["order_id"])
        assert (order["status"], order["confirmed_via"]) == ("paid", "webhook")
    sold = [len(range(i, ORDERS, 3)) for i in range(3)]  # 17, 17, 16
    assert [await shop.stock(p) for p in products] == [STOCK - n for n in sold]
    recorded = await recorded_events(db)
    assert sorted(r["event_id"] for r in recorded) == sorted(e["id"] for e in events)
    assert {r["outcome"] for r in recorded} == {"paid"}
    connect = [r for r in recorded if r["endpoint"] == "connect"]
    assert {r["account"] for r in connect} == {direct["stripe_account_id"]}
    assert len(connect) == sold[1]
    assert await shop.state_of(bystander) == UNTOUCHED


async def test_two_passes_at_once_still_confirm_each_order_once(
    shop: Shop, db: asyncpg.Connection
) -> None:
    """Correctness does not rest on the advisory lock: two passes racing (a replica and
    `payments reconcile`, say) apply each event once between them."""
    direct = await shop.seller("direct")
    products = [await shop.product(stock=20), await shop.product(stock=20, seller=direct)]
    checkouts = [await shop.checkout(products[i % 2]) for i in range(12)]
    for checkout in checkouts:
        shop.fake.complete_session(checkout["session_id"], outcome="paid")

    one, other = await asyncio.gather(run_pass(shop.app), run_pass(shop.app))

    assert one.summary.applied + other.summary.applied == 12
    assert one.summary.recorded_before + other.summary.recorded_before == 12
    assert one.summary.failed == other.summary.failed == 0
    assert [await shop.stock(p) for p in products] == [14, 14]
    assert len(await recorded_events(db)) == 12


async def test_events_are_applied_in_the_order_stripe_made_them(
    shop: Shop, db: asyncpg.Connection
) -> None:
    """A bank debit that settled, one that failed and a session that expired: each order
    ends where its events, applied oldest first, lead (Stripe lists newest first)."""
    product = await shop.product(stock=5)
    settled, bounced, abandoned = [await shop.checkout(product) for _ in range(3)]
    shop.fake.complete_session(settled["session_id"], outcome="async")
    shop.fake.succeed_async(settled["session_id"])
    shop.fake.complete_session(bounced["session_id"], outcome="async")
    shop.fake.fail_async(bounced["session_id"])
    shop.fake.expire_session(abandoned["session_id"])

    reconciled = await run_pass(shop.app)

    assert reconciled.summary == Summary(seen=5, recorded_before=0, applied=5, failed=0)
    assert (await shop.order(settled["order_id"]))["status"] == "paid"
    assert (await shop.order(bounced["order_id"]))["status"] == "failed"
    assert (await shop.order(abandoned["order_id"]))["status"] == "expired"
    assert await shop.stock(product) == 4
    outcomes = sorted((r["type"], r["outcome"]) for r in await recorded_events(db))
    assert outcomes == [
        ("checkout.session.async_payment_failed", "failed"),
        ("checkout.session.async_payment_succeeded", "paid"),
        ("checkout.session.completed", "processing"),
        ("checkout.session.completed", "processing"),
        ("checkout.session.expired", "expired"),
    ]


async def test_open_orders_past_their_expiry_are_settled_from_their_sessions(
    shop: Shop, db: asyncpg.Connection
) -> None:
    """With no event in the window, the orders still open past their checkout's expiry are
    asked about: a paid one is confirmed (as a webhook would), an older row without a
    stored expiry whose session expired is closed, one Stripe still holds open stays as it
    is, and one not yet expired is not asked about at all."""
    direct = await shop.seller("direct")
    product = await shop.product(stock=5, seller=direct)
    paid, lapsed, still_open = [await shop.checkout(product) for _ in range(3)]
    bystander = await shop.bystander()
    shop.fake.complete_session(paid["session_id"], outcome="paid")
    shop.fake.expire_session(lapsed["session_id"])
    await expire_checkout(shop.app, paid["order_id"], ago=timedelta(minutes=1))
    await expire_checkout(shop.app, still_open["order_id"], ago=timedelta(minutes=1))
    # A row from before the expiry was kept: 24 hours after it was made counts.
    await db.execute(
        "UPDATE orders SET checkout_expires_at = NULL, created_at = now() - interval '25 hours'"
        " WHERE id = $1",
        uuid.UUID(lapsed["order_id"]),
    )
    asked_before = len(shop.fake.requests)

    reconciled = await run_pass(shop.app, no_events)

    assert reconciled.summary == Summary(seen=3, recorded_before=0, applied=2, failed=0)
    order = await shop.order(paid["order_id"])
    assert (order["status"], order["confirmed_via"]) == ("paid", "webhook")
    assert (await shop.order(lapsed["order_id"]))["status"] == "expired"
    assert (await shop.order(still_open["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 4
    assert await shop.state_of(bystander) == UNTOUCHED
    # Checkout stored when the bystander's session closes, as Stripe said.
    expires = await db.fetchval(
        "SELECT checkout_expires_at FROM orders WHERE id = $1", uuid.UUID(bystander.order_id)
    )
    assert int(expires.timestamp()) == shop.fake.get_session(bystander.session_id)["expires_at"]
    asked = [r.path for r in shop.fake.requests[asked_before:]]
    assert not any(bystander.session_id in path for path in asked)
    assert await recorded_events(db) == []


async def test_failures_are_counted_and_the_next_pass_applies_what_they_left(
    shop: Shop, db: asyncpg.Connection
) -> None:
    """Stripe failing for the platform's event list and for one session: both are counted,
    the pass goes on with the seller's events, and the next pass applies the rest."""
    direct = await shop.seller("direct")
    on_platform = await shop.checkout(await shop.product(stock=5))
    on_seller = await shop.checkout(await shop.product(stock=5, seller=direct))
    lapsed = await shop.checkout(await shop.product(stock=5))
    for checkout in (on_platform, on_seller, lapsed):
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
    await expire_checkout(shop.app, lapsed["order_id"], ago=timedelta(minutes=1))
    shop.fake.fail_next(1, status=500, path_prefix="/v1/events")  # the platform's list
    shop.fake.fail_next(1, status=500, path_prefix="/v1/checkout/sessions/")

    first = await run_pass(shop.app)

    assert first.summary == Summary(seen=2, recorded_before=0, applied=1, failed=2)
    assert first.failed_accounts == frozenset({None})
    assert (await shop.order(on_seller["order_id"]))["status"] == "paid"
    assert (await shop.order(on_platform["order_id"]))["status"] == "pending"
    assert (await shop.order(lapsed["order_id"]))["status"] == "pending"

    second = await run_pass(shop.app)

    assert second.summary == Summary(seen=3, recorded_before=1, applied=2, failed=0)
    for checkout in (on_platform, on_seller, lapsed):
        assert (await shop.order(checkout["order_id"]))["status"] == "paid"
    assert len(await recorded_events(db)) == 3
