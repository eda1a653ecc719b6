"""The outbox worker during a database outage, in a real `payments serve` process: one
warning per poll, no traceback (tracebacks are for bugs)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from payments.migrate import upgrade
from tests.conftest import ADMIN_KEY, CONNECT_SECRET, STRIPE_KEY, WEBHOOK_SECRET
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.processes import bare_env, running_service, wait_for


@pytest.fixture
def database(pg_server: PostgresServer) -> Iterator[str]:
    """A migrated database of this test's own (the test closes it to connections)."""
    name = f"payments_outage_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(pg_server, name))
    asyncio.run(upgrade(pg_server.database_url(name)))
    yield name
    asyncio.run(drop_database(pg_server, name))


async def allow_connections(server: PostgresServer, name: str, allowed: bool) -> None:
    """Open or close the database to connections; closing also ends the open ones."""
    admin = await asyncpg.connect(server.admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
    finally:
        await admin.close()


def test_outbox_logs_a_database_outage_as_one_warning_without_a_traceback(
    pg_server, database, stripe_url, tmp_path
) -> None:
    """Every poll during the outage says so in one warning line; no traceback is logged."""
    env = bare_env(
        DATABASE_URL=pg_server.database_url(database),
        STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_CONNECT_WEBHOOK_SECRET=CONNECT_SECRET,
        STRIPE_API_BASE=stripe_url,
        ADMIN_API_KEY=ADMIN_KEY,
        LOG_FORMAT="json",
        OUTBOX_POLL_SECONDS="0.2",
        DB_CONNECT_TIMEOUT_SECONDS="1",
    )
    log_path = tmp_path / "service.log"

    with running_service(env, cwd=tmp_path, log_path=log_path):
        asyncio.run(allow_connections(pg_server, database, allowed=False))
        try:
            # Several polls, each finding the database closed.
            wait_for(lambda: log_path.read_text().count('"database.unavailable"') >= 3)
        finally:
            asyncio.run(allow_connections(pg_server, database, allowed=True))
    log = log_path.read_text()

    assert "Traceback" not in log
    assert "outbox.drain_failed" not in log
    assert log.count('"outbox.paused"') >= 2
