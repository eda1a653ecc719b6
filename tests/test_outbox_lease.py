"""The outbox's lease: a worker that outlived its claim records nothing once another worker
claimed the message, and leases and retry times run on the database's clock, which every
replica shares, not on the replica's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import stripe
import time_machine

from payments.outbox import OutboxWorker
from tests.conftest import Shop


def worker(shop: Shop, lease: timedelta = timedelta(minutes=5)) -> OutboxWorker:
    """Another replica's worker on the same database and Stripe."""
    return OutboxWorker(shop.app.state.database, shop.app.state.provider, lease=lease)


async def lease_runs_out(db) -> None:
    """The claim's lease ends now, as if its worker had stalled past it."""
    await db.execute("UPDATE outbox SET next_attempt_at = now() - interval '1 second'")


async def test_stale_claim_records_nothing_after_another_worker_finished(
    shop: Shop, dashboard: stripe.StripeClient, db
) -> None:
    """Refunded in full in the Dashboard (no refund id to dedupe on): the worker that wakes
    after another finished the message must not record the refund a second time."""
    _first, second = await shop.oversold()
    payment_id = (await shop.order(second["order_id"]))["provider_payment_id"]
    await dashboard.v1.refunds.create_async({"payment_intent": payment_id})
    stalled, other = worker(shop), worker(shop)
    stale = await stalled._claim()
    assert stale is not None
    await lease_runs_out(db)
    assert await other.drain() == 2  # the refund (nothing left), then fetching the Dashboard's

    await stalled._deliver(stale)

    order = await shop.order(second["order_id"])
    assert order["status"] == "refunded"
    assert [(r["amount"], r["status"]) for r in order["refunds"]] == [
        (2500, "canceled"),  # ours: nothing was left
        (2500, "succeeded"),  # the Dashboard's, recorded once
    ]
    receipt = (await shop.client.get(f"/orders/{second['order_id']}")).json()
    assert receipt["amount_refunded"] == 2500


async def test_stale_claim_leaves_the_message_to_its_new_holder(shop: Shop, db) -> None:
    """A stalled worker delivering while another holds the claim records nothing; the holder
    then gets Stripe's same refund back (same key) and records it once."""
    _first, second = await shop.oversold()
    stalled, holder = worker(shop), worker(shop)
    stale = await stalled._claim()
    assert stale is not None
    await lease_runs_out(db)
    held = await holder._claim()
    assert held is not None

    await stalled._deliver(stale)
    unrecorded = await shop.order(second["order_id"])
    await holder._deliver(held)

    assert unrecorded["status"] == "refund_pending"
    assert [(r["status"], r["provider_refund_id"]) for r in unrecorded["refunds"]] == [
        ("pending", None)  # as written before it was sent: Stripe's answer was not recorded
    ]
    [refund] = shop.fake.refunds()
    order = await shop.order(second["order_id"])
    assert order["status"] == "refunded"
    assert [r["provider_refund_id"] for r in order["refunds"]] == [refund.refund["id"]]


async def test_stale_claim_does_not_reschedule_a_message_another_worker_holds(
    shop: Shop, db
) -> None:
    """A stalled worker whose call fails must not shorten the new holder's lease."""
    await shop.oversold()
    stalled, holder = worker(shop), worker(shop)
    stale = await stalled._claim()
    assert stale is not None
    await lease_runs_out(db)
    assert await holder._claim() is not None
    leased_until = await db.fetchval("SELECT next_attempt_at FROM outbox")
    shop.fake.fail_next(1, status=500, error_type="api_error", path_prefix="/v1/refunds")

    await stalled._deliver(stale)

    assert await db.fetchval("SELECT next_attempt_at FROM outbox") == leased_until
    assert await db.fetchval("SELECT last_error FROM outbox") is None


async def test_lease_runs_on_the_database_clock(shop: Shop) -> None:
    """A replica whose clock is an hour behind still leases for five minutes: another worker
    cannot claim the message it is working on."""
    await shop.oversold()
    behind = datetime.now(UTC) - timedelta(hours=1)

    with time_machine.travel(behind, tick=True):
        claimed = await worker(shop)._claim()

    assert claimed is not None
    assert await worker(shop)._claim() is None


async def test_retry_time_runs_on_the_database_clock(shop: Shop, db) -> None:
    """A replica whose clock is an hour ahead retries a failed refund in seconds, not in an
    hour and seconds."""
    await shop.oversold()
    shop.fake.fail_next(1, status=500, error_type="api_error", path_prefix="/v1/refunds")
    ahead = datetime.now(UTC) + timedelta(hours=1)

    with time_machine.travel(ahead, tick=True):
        assert await worker(shop).drain() == 1

    assert await db.fetchval("SELECT next_attempt_at - now() < interval '1 minute' FROM outbox")
