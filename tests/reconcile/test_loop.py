"""Reconciliation inside the service (payments.reconcile.loop): a pass every interval, one
replica at a time, and its window."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from payments.app import create_app
from payments.reconcile.loop import LOCK_KEY, MARGIN
from payments.reconcile.service import Summary
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import ADMIN_KEY, Shop, make_settings, wait_until

from .conftest import expire_checkout, no_events, run_pass

SHORT = {"reconcile_interval_seconds": 1}


async def status_of(shop: Shop, checkout: dict) -> str:
    return str((await shop.order(checkout["order_id"]))["status"])


@pytest.mark.parametrize("settings_overrides", [SHORT])
async def test_an_order_whose_webhook_never_came_is_confirmed_within_an_interval(
    shop: Shop, db: asyncpg.Connection
) -> None:
    """The buyer paid and closed the tab, the webhook was lost: the service's own pass
    confirms the order within one interval (1 s here), as a webhook would have."""
    direct = await shop.seller("direct")
    product = await shop.product(stock=3, seller=direct)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")

    async def paid() -> bool:
        return await status_of(shop, checkout) == "paid"

    await wait_until(paid, within=30)

    assert (await shop.order(checkout["order_id"]))["confirmed_via"] == "webhook"
    assert await shop.stock(product) == 2
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 1


@pytest.mark.parametrize("settings_overrides", [SHORT])
async def test_a_failed_pass_does_not_stop_the_loop(shop: Shop) -> None:
    """Stripe failing the first pass's listing is logged; a later pass confirms the order."""
    checkout = await shop.checkout(await shop.product(stock=3))
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    shop.fake.fail_next(1, status=500, path_prefix="/v1/events")

    async def paid() -> bool:
        return await status_of(shop, checkout) == "paid"

    await wait_until(paid, within=30)

    listings = [r.status for r in shop.fake.requests if r.path == "/v1/events"]
    assert listings[0] == 500
    assert 200 in listings[1:]


@pytest.mark.parametrize("settings_overrides", [{"reconcile_interval_seconds": 0}])
async def test_an_interval_of_zero_turns_the_loop_off(shop: Shop) -> None:
    """RECONCILE_INTERVAL_SECONDS=0: no reconciler runs in the service."""
    assert not hasattr(shop.app.state, "reconciler")
    assert shop.app.state.settings.reconcile_interval_seconds == 0


async def advisory_lock_held(db: asyncpg.Connection) -> bool:
    """Whether some session holds the reconciliation's lock (a bigint key is split in two)."""
    held = await db.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = $1 AND objid = $2 AND objsubid = 1",
        LOCK_KEY >> 32,
        LOCK_KEY & 0xFFFFFFFF,
    )
    return bool(held)


async def test_two_replicas_on_one_database_do_not_run_a_pass_at_once(
    shop: Shop, db: asyncpg.Connection, database_url: str, stripe_url: str
) -> None:
    """While one replica's pass runs (held up by a slow Stripe), the other's turn is
    skipped; once it ended, the other runs its pass and finds everything recorded."""
    checkout = await shop.checkout(await shop.product(stock=3))
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    other = create_app(make_settings(database_url, stripe_url))
    async with other.router.lifespan_context(other):
        shop.fake.delay_next(1, 3.0, path_prefix="/v1/events")
        running = asyncio.create_task(shop.app.state.reconciler.run_once())
        await wait_until(lambda: advisory_lock_held(db))

        skipped = await other.state.reconciler.run_once()
        first = await running
        after = await other.state.reconciler.run_once()

    assert skipped is None
    assert first == Summary(seen=1, recorded_before=0, applied=1, failed=0)
    assert after == Summary(seen=1, recorded_before=1, applied=0, failed=0)
    assert not await advisory_lock_held(db)
    assert await status_of(shop, checkout) == "paid"


async def test_the_window_moves_on_per_account_after_a_clean_pass(shop: Shop) -> None:
    """The first pass lists 72 hours back; the next one, per account, from where the last
    clean pass started less the margin; an account whose listing failed keeps its window."""
    direct = await shop.seller("direct")
    account = direct["stripe_account_id"]
    shop.fake.fail_next(1, status=500, path_prefix="/v1/events")  # the platform's list
    before = int(time.time())
    first = await shop.app.state.reconciler.run_once()
    after = int(time.time())
    requests_before = len(shop.fake.requests)
    second = await shop.app.state.reconciler.run_once()

    assert (first.failed, second.failed) == (1, 0)
    windows = {
        r.account: int(r.query["created"]["gte"])
        for r in shop.fake.requests[requests_before:]
        if r.path == "/v1/events"
    }
    margin = int(MARGIN.total_seconds())
    assert before - margin <= windows[account] <= after - margin
    three_days = int(timedelta(hours=72).total_seconds())
    assert windows[None] <= int(time.time()) - three_days


async def test_on_sqlite_a_pass_runs_without_a_lock(
    fake_stripe: FakeStripe, stripe_url: str, tmp_path: Path
) -> None:
    """The sandbox's SQLite is one process: passes just run. Its expiry check reads SQLite's
    times right: an order past its checkout's expiry is settled from its session, one not
    yet expired is not asked about."""
    fake_stripe.reset()
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}", stripe_url)
    app = create_app(settings)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        )
        shop = Shop(client, fake_stripe, {"Authorization": f"Bearer {ADMIN_KEY}"}, app)
        product = await shop.product(stock=3)
        lapsed, waiting = await shop.checkout(product), await shop.checkout(product)
        fake_stripe.complete_session(lapsed["session_id"], outcome="paid")
        await expire_checkout(app, lapsed["order_id"], ago=timedelta(minutes=1))

        by_session = await run_pass(app, no_events)
        by_event = await app.state.reconciler.run_once()

        assert by_session.summary == Summary(seen=1, recorded_before=0, applied=1, failed=0)
        # Its event, found later, is recorded; the order is settled already.
        assert by_event == Summary(seen=1, recorded_before=0, applied=1, failed=0)
        assert await status_of(shop, lapsed) == "paid"
        assert await status_of(shop, waiting) == "pending"
        assert await shop.stock(product) == 2
