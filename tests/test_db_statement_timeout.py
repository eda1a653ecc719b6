"""A statement that times out on the one-statement path (DB_COMMAND_TIMEOUT_SECONDS) must
end at the server too, and leave no connection behind: the pool has no overflow, and
Postgres's connection limit is what the replicas share.

asyncpg sends the server a cancel when a statement times out; the connection must go
back to the pool for that cancel to finish (discarding it drops the cancel, and the
statement goes on waiting for its lock on a backend nobody reads, then commits after
the caller was told 503).
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

import asyncpg
import pytest

from payments.db import Database
from tests.conftest import Shop

POOL = 5


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"db_command_timeout_seconds": 1, "db_pool_size": POOL}


async def backends_of_the_service(db: asyncpg.Connection, *test_pids: int) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND backend_type = 'client backend' AND pid <> ALL($1::int[])",
        [await db.fetchval("SELECT pg_backend_pid()"), *test_pids],
    )
    return count


async def fill_the_pool(database: Database) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(POOL):
            connection = await stack.enter_async_context(database.driver_connection())
            await connection.fetchval("SELECT 1")


async def test_timeouts_leave_no_connections_beyond_the_pool(
    shop: Shop, db, database_url: str
) -> None:
    """Each statement that times out waiting for a lock gives its connection up; the
    service must still hold at most DB_POOL_SIZE connections to Postgres."""
    database: Database = shop.app.state.database
    product = await shop.product(stock=10)
    checkouts = [await shop.checkout(product) for _ in range(3)]
    locker = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    locker_pid = await locker.fetchval("SELECT pg_backend_pid()")
    try:
        async with locker.transaction():  # a transaction that holds the orders, stalled
            for checkout in checkouts:
                await locker.execute(
                    "SELECT 1 FROM orders WHERE id = $1 FOR UPDATE", checkout["order_id"]
                )
            for checkout in checkouts:
                await fill_the_pool(database)  # a burst left the pool full
                shop.fake.complete_session(checkout["session_id"], outcome="paid")
                timed_out = await shop.deliver(shop.fake.last_event("checkout.session.completed"))
                assert timed_out.status_code == 503
            gc.collect()  # what only the garbage collector would close is not counted
            await fill_the_pool(database)
            open_now = await backends_of_the_service(db, locker_pid)
            still_waiting = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
    finally:
        await locker.close()

    assert still_waiting == 0  # a statement answered with a 503 no longer runs
    assert open_now <= POOL
