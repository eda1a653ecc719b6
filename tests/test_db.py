"""Database trouble: an outage answers a fast 503 (callers retry), a bug stays a 500.

An outage is a failure to get a connection (refused, timed out, pool exhausted,
SQLite's write lock not granted in time) or a connection lost mid-request; a
statement the database rejects is a bug.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from payments.app import create_app
from payments.db import Database
from payments.errors import DatabaseUnavailable
from payments.migrate import upgrade
from tests.conftest import make_settings
from tests.support.postgres import create_database, drop_database

# Without the timeouts these requests would wait for asyncpg's own 60 s connect
# timeout (or SQLAlchemy's 30 s pool and SQLite's 30 s lock waits): a regression
# must fail here instead of hanging the suite. This is a guard, not a measurement.
GUARD_SECONDS = 25
SHORT = {
    "db_connect_timeout_seconds": 0.5,
    "db_command_timeout_seconds": 0.5,
    "db_pool_timeout_seconds": 0.5,
}


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers; yields its port."""

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@asynccontextmanager
async def serving(
    settings: Any, **transport: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The service started with `settings`: a client for it, and its own Database (for
    tests that hold its connections)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        asgi = httpx.ASGITransport(app=app, **transport)
        async with httpx.AsyncClient(transport=asgi, base_url="http://payments.test") as client:
            yield client, app.state.database


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0


async def test_database_that_never_answers_gives_a_fast_503(stripe_url, fake_stripe) -> None:
    """A server that accepts TCP but never answers: /readyz, webhooks and checkout answer 503."""
    event = fake_stripe.make_event("payments.test_event", {"id": "x_1", "object": "thing"})
    body, headers = fake_stripe.signed(event)
    async with silent_server() as port, asyncio.timeout(GUARD_SECONDS):
        url = f"postgresql+asyncpg://payments@127.0.0.1:{port}/payments"
        async with serving(make_settings(url, stripe_url, **SHORT)) as (client, _database):
            ready = await client.get("/readyz")
            webhook = await client.post("/webhooks/stripe", content=body, headers=headers)
            checkout = await client.post(
                "/checkout/sessions",
                json={"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]},
            )

    for response in (ready, webhook, checkout):
        assert_unavailable(response)


async def test_every_pooled_connection_busy_gives_a_503(database_url, stripe_url) -> None:
    """Pool checkout times out after DB_POOL_TIMEOUT_SECONDS: 503, not a 30 s wait."""
    settings = make_settings(database_url, stripe_url, db_pool_size=1, **SHORT)
    async with (
        serving(settings) as (client, database),
        # The pool opens no overflow: holding its one connection exhausts it.
        database.reading() as held,
    ):
        await held.execute(text("SELECT 1"))
        async with asyncio.timeout(GUARD_SECONDS):
            ready = await client.get("/readyz")

    assert_unavailable(ready)


async def test_statement_that_never_finishes_gives_a_503(database_url, stripe_url) -> None:
    """A statement past DB_COMMAND_TIMEOUT_SECONDS (here: stuck behind a lock) is a 503."""
    locker = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        async with serving(make_settings(database_url, stripe_url, **SHORT)) as (client, _database):
            async with locker.transaction():
                await locker.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
                async with asyncio.timeout(GUARD_SECONDS):
                    products = await client.get("/products")
            after = await client.get("/products")
    finally:
        await locker.close()

    assert_unavailable(products)
    assert after.status_code == 200


async def test_connection_lost_mid_transaction_is_unavailable(database_url, stripe_url) -> None:
    """The server ending the session mid-transaction is an outage, not a bug."""

    async def transaction_whose_session_is_ended(database: Database) -> None:
        async with database.transaction() as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            await session.execute(text("SELECT 1"))

    async with serving(make_settings(database_url, stripe_url, **SHORT)) as (_client, database):
        with pytest.raises(DatabaseUnavailable):
            await transaction_whose_session_is_ended(database)


async def test_sqlite_write_lock_held_too_long_gives_a_503(tmp_path, stripe_url) -> None:
    """On SQLite, DB_COMMAND_TIMEOUT_SECONDS bounds the wait for the write lock: 503."""
    path = tmp_path / "payments.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    async with serving(make_settings(url, stripe_url, **SHORT)) as (client, _database):
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
        try:
            async with asyncio.timeout(GUARD_SECONDS):
                ready = await client.get("/readyz")
        finally:
            holder.rollback()
            holder.close()
        after = await client.get("/readyz")

    assert_unavailable(ready)
    assert after.status_code == 200


async def test_a_statement_the_database_rejects_is_a_500(pg_server, stripe_url) -> None:
    """A bug (here: a table dropped by hand) is a 500 to fix, not a 503 retried for days."""
    name = f"payments_broken_{uuid.uuid4().hex[:8]}"
    await create_database(pg_server, name)
    try:
        await upgrade(pg_server.database_url(name))
        broken = await asyncpg.connect(pg_server.database_url(name, driver=""))
        try:
            await broken.execute("DROP TABLE products CASCADE")
        finally:
            await broken.close()
        settings = make_settings(pg_server.database_url(name), stripe_url, **SHORT)
        async with serving(settings, raise_app_exceptions=False) as (client, _database):
            products = await client.get("/products")
            ready = await client.get("/readyz")
    finally:
        await drop_database(pg_server, name)

    assert products.status_code == 500
    assert ready.status_code == 200  # the database itself answers
