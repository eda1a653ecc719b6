"""`payments migrate` and the schema check at start-up, as real processes on real databases:
what it says it did, one line when it cannot connect, concurrent runs, and a service that
will not start on a schema it does not know."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic.script import ScriptDirectory

from payments.app import create_app
from payments.migrate import alembic_config, upgrade
from tests.conftest import ADMIN_KEY, CONNECT_SECRET, STRIPE_KEY, WEBHOOK_SECRET, make_settings
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.processes import bare_env, free_port, running_service, wait_for

SCRIPTS = ScriptDirectory.from_config(alembic_config(""))
HEAD = SCRIPTS.get_current_head()
assert HEAD is not None
# The revision before the newest: a database an upgrade has not been run on yet.
PREVIOUS = SCRIPTS.get_revision(HEAD).down_revision
assert isinstance(PREVIOUS, str)


@dataclass
class FreshDatabase:
    name: str
    url: str
    env: dict[str, str]  # what a newcomer puts in .env for real Stripe, on this database

    async def set_revision(self, revision: str) -> None:
        conn = await asyncpg.connect(self.url.replace("+asyncpg", ""))
        try:
            await conn.execute("UPDATE alembic_version SET version_num = $1", revision)
        finally:
            await conn.close()


@pytest.fixture
def fresh(pg_server: PostgresServer, stripe_url: str) -> Iterator[FreshDatabase]:
    """An empty database that was never migrated."""
    name = f"payments_migrate_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(pg_server, name))
    url = pg_server.database_url(name)
    yield FreshDatabase(name=name, url=url, env=stripe_env(url, STRIPE_API_BASE=stripe_url))
    asyncio.run(drop_database(pg_server, name))


def stripe_env(database_url: str, **more: str) -> dict[str, str]:
    """What a newcomer puts in .env for real Stripe, on this database."""
    return bare_env(
        DATABASE_URL=database_url,
        STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_CONNECT_WEBHOOK_SECRET=CONNECT_SECRET,
        ADMIN_API_KEY=ADMIN_KEY,
        LOG_FORMAT="json",
        **more,
    )


def payments(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payments.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The process refused in one line on stderr, without a traceback; returns the line."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_migrate_says_it_migrated_a_new_database_to_the_newest_revision(fresh, tmp_path) -> None:
    """The first run says which revision it migrated a new database to."""
    result = payments("migrate", env=fresh.env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"payments: migrated a new database to revision {HEAD}"


def test_migrate_says_from_which_revision_to_which(fresh, tmp_path) -> None:
    """An upgrade names the revision it started from and the one it reached."""
    asyncio.run(upgrade(fresh.url, PREVIOUS))

    result = payments("migrate", env=fresh.env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"payments: migrated the database from revision {PREVIOUS} to {HEAD}"
    )


def test_migrate_on_a_migrated_database_says_it_is_already_there(fresh, tmp_path) -> None:
    """Nothing to do is said as such, not as a migration."""
    asyncio.run(upgrade(fresh.url))

    result = payments("migrate", env=fresh.env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"payments: the database is already at revision {HEAD}, the newest schema"
    )


def test_migrate_leaves_a_database_of_a_newer_release_as_it_is(fresh, tmp_path) -> None:
    """After a rollback the database is ahead: say so and change nothing (exit 0, so the
    image's `payments migrate && payments serve` still starts)."""
    asyncio.run(upgrade(fresh.url))
    asyncio.run(fresh.set_revision("f00dfeedbeef"))

    result = payments("migrate", env=fresh.env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "f00dfeedbeef" in result.stdout
    assert "newer release" in result.stdout


def test_migrate_with_the_database_server_down_is_one_line(tmp_path) -> None:
    """Nothing listens at DATABASE_URL: one line naming the database and why, no traceback."""
    port = free_port()
    env = stripe_env(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/payments")

    line = one_line_refusal(payments("migrate", env=env, cwd=tmp_path))

    assert f"127.0.0.1:{port}/payments" in line
    assert "connection refused" in line


def test_migrate_on_a_database_that_does_not_exist_is_one_line(pg_server, tmp_path) -> None:
    """A database that was never created: one line that says so, no traceback."""
    name = f"payments_missing_{uuid.uuid4().hex[:8]}"
    env = stripe_env(pg_server.database_url(name))

    line = one_line_refusal(payments("migrate", env=env, cwd=tmp_path))

    assert f'database "{name}" does not exist' in line


def test_migrate_never_shows_the_password(pg_server, tmp_path) -> None:
    """The one line names the database without the password of its URL."""
    url = pg_server.database_url(f"payments_missing_{uuid.uuid4().hex[:8]}")
    env = stripe_env(url.replace("://postgres@", "://postgres:s3cret-pw@"))

    line = one_line_refusal(payments("migrate", env=env, cwd=tmp_path))

    assert "s3cret-pw" not in line


async def test_concurrent_migrations_of_a_new_database_take_turns(fresh, tmp_path) -> None:
    """Two replicas running `payments migrate` at the same moment: one migrates, the other
    finds it done; neither fails. (They are held at the same point, then let go together.)"""
    holder = await asyncpg.connect(fresh.url.replace("+asyncpg", ""))
    # Another connection looks: one in a transaction sees activity as of its start.
    watcher = await asyncpg.connect(fresh.url.replace("+asyncpg", ""))
    try:
        # An uncommitted alembic_version blocks whoever creates that table next, so both
        # processes reach the same point before either can go on.
        holding = holder.transaction()
        await holding.start()
        await holder.execute("CREATE TABLE alembic_version (version_num varchar(32))")
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "payments.cli",
                "migrate",
                env=fresh.env,
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        async with asyncio.timeout(60):
            while await watcher.fetchval(waiting, fresh.name) < 2:
                assert all(p.returncode is None for p in procs), "a migration ended while held"
                await asyncio.sleep(0.05)
        await holding.rollback()
        async with asyncio.timeout(120):
            outputs = [await proc.communicate() for proc in procs]
    finally:
        await holder.close()
        await watcher.close()

    assert [proc.returncode for proc in procs] == [0, 0], outputs
    said = sorted(stdout.decode().strip() for stdout, _ in outputs)
    assert said == [
        f"payments: migrated a new database to revision {HEAD}",
        f"payments: the database is already at revision {HEAD}, the newest schema",
    ]


def test_serve_refuses_a_database_that_was_never_migrated(fresh, tmp_path) -> None:
    """Instead of a ready service answering 500: one line naming `payments migrate`."""
    line = one_line_refusal(
        payments("serve", "--port", str(free_port()), env=fresh.env, cwd=tmp_path)
    )

    assert "never been migrated" in line
    assert HEAD in line
    assert "payments migrate" in line


def test_serve_refuses_a_database_an_upgrade_was_not_run_on(fresh, tmp_path) -> None:
    """One migration behind (a new release deployed without `payments migrate`): one line
    with the database's revision and the one this release needs."""
    asyncio.run(upgrade(fresh.url, PREVIOUS))

    line = one_line_refusal(
        payments("serve", "--port", str(free_port()), env=fresh.env, cwd=tmp_path)
    )

    assert f"at revision {PREVIOUS}" in line
    assert f"needs revision {HEAD}" in line
    assert "payments migrate" in line


def test_seed_refuses_a_database_that_was_never_migrated(fresh, tmp_path) -> None:
    """`payments seed` checks the schema like serve: one line, not a traceback from SQL."""
    line = one_line_refusal(payments("seed", env=fresh.env, cwd=tmp_path))

    assert "never been migrated" in line
    assert "payments migrate" in line


def test_serve_runs_on_a_database_a_newer_release_migrated(fresh, tmp_path) -> None:
    """A rollback: the database is ahead; the service starts and says so in its log."""
    asyncio.run(upgrade(fresh.url))
    asyncio.run(fresh.set_revision("f00dfeedbeef"))
    log_path = tmp_path / "service.log"

    with running_service(fresh.env, cwd=tmp_path, log_path=log_path) as url:
        ready = httpx.get(f"{url}/readyz", timeout=10)
        wait_for(lambda: "database.schema_ahead" in log_path.read_text())

    assert ready.status_code == 200
    assert "f00dfeedbeef" in log_path.read_text()


async def test_the_app_itself_will_not_start_on_a_database_never_migrated(
    fresh, stripe_url
) -> None:
    """Started without the command (uvicorn payments.app:app), start-up stops all the same."""
    app = create_app(make_settings(fresh.url, stripe_url))

    with pytest.raises(Exception, match="run `payments migrate` first"):
        async with app.router.lifespan_context(app):
            pass


def test_migrate_needs_only_the_database_url(fresh, tmp_path) -> None:
    """A migration job carries DATABASE_URL, not the Stripe secrets the service needs."""
    result = payments("migrate", env=bare_env(DATABASE_URL=fresh.url), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"payments: migrated a new database to revision {HEAD}"


def test_sandbox_on_a_sqlite_file_it_cannot_open_is_one_line(tmp_path) -> None:
    """No settings but a database in a missing folder: one line from serve, no traceback."""
    url = f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/payments.db"
    env = bare_env(DATABASE_URL=url, SANDBOX_PORT="0")

    line = one_line_refusal(payments("serve", "--port", str(free_port()), env=env, cwd=tmp_path))

    assert line.startswith("payments: cannot connect to the database sqlite+aiosqlite:///")


def test_sandbox_on_a_postgres_database_that_does_not_exist_is_one_line(
    pg_server, tmp_path
) -> None:
    """SANDBOX=true on Postgres needs its database at start (it closes orphaned orders)."""
    name = f"payments_missing_{uuid.uuid4().hex[:8]}"
    env = bare_env(DATABASE_URL=pg_server.database_url(name), SANDBOX="true", SANDBOX_PORT="0")

    line = one_line_refusal(payments("serve", "--port", str(free_port()), env=env, cwd=tmp_path))

    assert f'database "{name}" does not exist' in line


def test_migrate_of_a_sqlite_file_it_cannot_open_is_one_line(tmp_path) -> None:
    """A SQLite file in a missing folder: one line, every time (no driver thread's traceback)."""
    env = bare_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/no/such/folder/payments.db")

    lines = {one_line_refusal(payments("migrate", env=env, cwd=tmp_path)) for _ in range(3)}

    [line] = lines
    assert line.endswith("payments.db: unable to open database file")
