"""The suite's way of finding PostgreSQL, exercised against real servers."""

import asyncio
import socket
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from tests.support.postgres import (
    PostgresNotFound,
    PostgresServer,
    create_database,
    drop_database,
    find_postgres,
    find_server_binaries,
    not_found_message,
    throwaway_cluster,
)


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with find_postgres() as found:
        yield found


async def _select_one(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=3)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


def _answers(url: str) -> bool:
    try:
        return asyncio.run(_select_one(url)) == 1
    except (OSError, asyncpg.PostgresError):
        return False


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_url_swaps_database_and_driver():
    """URLs handed to SQLAlchemy and asyncpg point at the requested database."""
    s = PostgresServer("postgresql://u:p%40w@db:6543/postgres?sslmode=disable", "local")
    assert s.database_url("payments_test") == (
        "postgresql+asyncpg://u:p%40w@db:6543/payments_test?sslmode=disable"
    )
    assert s.database_url("x", driver="") == "postgresql://u:p%40w@db:6543/x?sslmode=disable"


async def test_found_server_runs_queries(server):
    """Whatever find_postgres picks on this machine accepts connections."""
    assert server.source in {"TEST_DATABASE_URL", "local", "throwaway"}
    assert "+" not in server.admin_url.split("://")[0]
    assert await _select_one(server.admin_url) == 1


async def test_create_database_replaces_a_leftover_in_use(server):
    """A database left by a crashed run is dropped and recreated even with clients attached."""
    name = f"support_test_{uuid.uuid4().hex[:8]}"
    await create_database(server, name)
    url = server.database_url(name, driver="")
    stale = await asyncpg.connect(url, timeout=3)
    await stale.execute("CREATE TABLE leftover (id int)")
    try:
        await create_database(server, name)
        conn = await asyncpg.connect(url, timeout=3)
        try:
            assert await conn.fetchval("SELECT to_regclass('leftover')") is None
        finally:
            await conn.close()
    finally:
        stale.terminate()
        await drop_database(server, name)
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await asyncpg.connect(url, timeout=3)


def test_test_database_url_is_used_as_is(server, monkeypatch):
    """An explicit URL wins, and its SQLAlchemy +asyncpg form is accepted."""
    monkeypatch.setenv("TEST_DATABASE_URL", server.database_url("postgres"))
    expected = PostgresServer(server.database_url("postgres", driver=""), "TEST_DATABASE_URL")
    with find_postgres() as found:
        assert found == expected


def test_unreachable_test_database_url_names_the_variable(monkeypatch):
    """A wrong TEST_DATABASE_URL fails loudly instead of silently testing elsewhere."""
    port = _unused_port()
    monkeypatch.setenv("TEST_DATABASE_URL", f"postgresql+asyncpg://u:secret@127.0.0.1:{port}/db")
    with pytest.raises(PostgresNotFound, match="TEST_DATABASE_URL") as info, find_postgres():
        pass
    assert str(port) in str(info.value)
    assert "secret" not in str(info.value)


def test_without_local_server_find_postgres_uses_and_removes_a_throwaway(monkeypatch):
    """With nothing on the local port, tests still get a server, and it is gone afterwards."""
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(_unused_port()))
    with find_postgres() as found:
        assert found.source == "throwaway"
        assert _answers(found.admin_url)
    assert not _answers(found.admin_url)


def test_throwaway_cluster_stops_starts_and_cleans_up():
    """Reliability tests can take their own database down and bring it back."""
    with throwaway_cluster() as cluster:
        url = cluster.server.admin_url
        assert str(cluster.port) in url
        assert _answers(url)
        cluster.stop()
        assert not _answers(url)
        cluster.start()
        assert _answers(url)
    assert not cluster.data_dir.exists()
    assert not _answers(url)


def test_throwaway_cluster_restarts_after_kill():
    """A SIGKILLed postmaster (a crash) recovers on start(), even with clients attached."""
    with throwaway_cluster() as cluster:
        url = cluster.server.admin_url
        loop = asyncio.new_event_loop()
        try:
            clients = [loop.run_until_complete(asyncpg.connect(url)) for _ in range(3)]
            cluster.kill()
            assert not _answers(url)
            cluster.start()
            assert _answers(url)
            for client in clients:
                client.terminate()
        finally:
            loop.close()


def test_nothing_found_message_says_what_to_install():
    """Someone without PostgreSQL is told exactly what to set or install."""
    assert find_server_binaries([]) is None
    message = not_found_message([])
    assert "TEST_DATABASE_URL" in message
    assert "127.0.0.1:5432" in message
    assert "apt-get install postgresql" in message
    assert "brew install postgresql" in message
