"""Races: many signals for one checkout at once still confirm exactly once."""

from __future__ import annotations

import asyncio

from tests.conftest import Shop


async def test_fifty_concurrent_webhooks_and_verifies_confirm_once(shop: Shop, db) -> None:
    """50 calls mixing duplicate webhooks and verify calls: one confirmation, one decrement."""
    product = await shop.product(stock=10)
    checkout = await shop.checkout(product, quantity=3)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    event = shop.fake.last_event("checkout.session.completed")

    calls = [
        shop.deliver(event) if i % 2 else shop.verify(checkout["session_id"]) for i in range(50)
    ]
    responses = await asyncio.gather(*calls)

    assert [r.status_code for r in responses] == [200] * 50
    webhook_outcomes = [r.json()["outcome"] for r in responses[1::2]]
    assert set(webhook_outcomes) <= {"paid", "already_processed", "duplicate"}
    assert all(r.json()["paid"] for r in responses[0::2])
    assert await shop.stock(product) == 7
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 1
    order = await shop.order(checkout["order_id"])
    assert order["status"] == "paid"
    assert order["confirmed_via"] in {"webhook", "verify"}


async def test_two_buyers_racing_for_the_last_unit(shop: Shop) -> None:
    """Both pay for the last unit at once: one paid, one refunded, stock exactly 0."""
    product = await shop.product(stock=1)
    first, second = await shop.checkout(product), await shop.checkout(product)
    events = []
    for checkout in (first, second):
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
        events.append(shop.fake.last_event("checkout.session.completed"))

    await asyncio.gather(
        *[shop.deliver(e) for e in events * 5],
        *[shop.verify(c["session_id"]) for c in (first, second) for _ in range(5)],
    )
    await shop.drain_outbox()

    statuses = sorted([(await shop.order(c["order_id"]))["status"] for c in (first, second)])
    assert statuses == ["paid", "refunded"]
    assert await shop.stock(product) == 0
    assert len(shop.fake.refunds()) == 1


async def test_valid_and_mismatched_signals_racing_settle_one_way(shop: Shop, db) -> None:
    """Paid or refunded, flagged either way: never both, stock taken at most once, one refund."""
    product, other = await shop.product(stock=5), await shop.product(stock=5)
    checkout = await shop.checkout(product)
    await shop.checkout(other)
    session = shop.fake.complete_session(checkout["session_id"], outcome="paid")
    valid = shop.fake.last_event("checkout.session.completed")
    wrong = shop.fake.make_event("checkout.session.completed", dict(session, currency="eur"))

    responses = await asyncio.gather(
        *[shop.deliver(e) for e in [wrong, valid] * 5],
        *[shop.verify(checkout["session_id"]) for _ in range(5)],
    )
    await shop.drain_outbox()

    assert {r.status_code for r in responses} == {200}
    order = await shop.order(checkout["order_id"])
    assert order["review_reason"] == "currency_mismatch"
    assert order["status"] in {"paid", "refunded"}
    paid = order["status"] == "paid"
    assert await shop.stock(product) == (4 if paid else 5)
    assert len(shop.fake.refunds()) == (0 if paid else 1)
    assert await db.fetchval("SELECT count(*) FROM outbox") == (0 if paid else 1)
    assert await shop.stock(other) == 5
