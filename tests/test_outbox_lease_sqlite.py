"""The outbox's lease on SQLite (the sandbox's database), which has no interval type: leases
and retries still run on the database's clock, and a stale claim still records nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from payments.app import create_app
from payments.outbox import OutboxWorker
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import ADMIN_KEY, Shop, make_settings


@pytest.fixture
async def sqlite_shop(
    tmp_path: Path, stripe_url: str, fake_stripe: FakeStripe
) -> AsyncIterator[Shop]:
    """The service on a fresh SQLite file (migrated on start, as in the sandbox)."""
    fake_stripe.reset()
    app = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}", stripe_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Shop(client, fake_stripe, {"Authorization": f"Bearer {ADMIN_KEY}"}, app)


def sql(shop: Shop, statement: str) -> object:
    """Run one statement on the shop's SQLite file, as another process would; its answer."""
    path = shop.app.state.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute(statement).fetchone()


async def oversold(shop: Shop) -> dict:
    """Two buyers paid 25.00 each for the last unit; returns the order waiting for its refund."""
    product = await shop.product(stock=1)
    first, second = await shop.checkout(product), await shop.checkout(product)
    for checkout in (first, second):
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
        await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    return second


def worker(shop: Shop) -> OutboxWorker:
    return OutboxWorker(
        shop.app.state.database, shop.app.state.provider, lease=timedelta(minutes=5)
    )


async def test_claim_on_sqlite_leases_the_message_for_its_lease(sqlite_shop: Shop) -> None:
    """Claimed: no other worker gets it; due again in five minutes by the database's clock."""
    await oversold(sqlite_shop)

    assert await worker(sqlite_shop)._claim() is not None

    assert await worker(sqlite_shop)._claim() is None
    assert sql(
        sqlite_shop,
        "SELECT next_attempt_at > datetime('now', '+240 seconds')"
        " AND next_attempt_at <= datetime('now', '+300 seconds') FROM outbox",
    ) == (1,)


async def test_stale_claim_on_sqlite_records_nothing(sqlite_shop: Shop) -> None:
    """A worker that outlived its lease, after another worker finished: one refund recorded."""
    second = await oversold(sqlite_shop)
    stalled, other = worker(sqlite_shop), worker(sqlite_shop)
    stale = await stalled._claim()
    assert stale is not None
    sql(sqlite_shop, "UPDATE outbox SET next_attempt_at = datetime('now', '-1 seconds')")
    assert await other.drain() == 1

    await stalled._deliver(stale)

    order = await sqlite_shop.order(second["order_id"])
    assert (order["status"], [r["amount"] for r in order["refunds"]]) == ("refunded", [2500])


async def test_failed_refund_on_sqlite_is_retried_later(sqlite_shop: Shop) -> None:
    """Stripe down: the refund is rescheduled seconds ahead by the database's clock."""
    await oversold(sqlite_shop)
    sqlite_shop.fake.fail_next(1, status=500, error_type="api_error", path_prefix="/v1/refunds")

    assert await worker(sqlite_shop).drain() == 1

    assert sql(
        sqlite_shop,
        "SELECT next_attempt_at <= datetime('now', '+3 seconds'), last_error IS NOT NULL"
        " FROM outbox",
    ) == (1, 1)
