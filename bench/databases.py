"""A fresh database per part, migrated by `payments migrate` as an operator would.

The server is found the way the test suite finds it (TEST_DATABASE_URL, the local
server, else a throwaway cluster: tests/support/postgres.py), so the bench runs
wherever the tests run. `payments migrate` runs once per bench, on a template
database; each part gets a copy of it (CREATE DATABASE ... TEMPLATE: the same files,
a second instead of a migration per part), dropped when the part is done.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg

from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.processes import bare_env


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    url: str  # what the service takes: postgresql+asyncpg://...
    plain_url: str  # what asyncpg takes: postgresql://...

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.plain_url)


class MigrateFailed(RuntimeError):
    """`payments migrate` refused or failed; the message carries what it printed."""


@dataclass(frozen=True)
class Databases:
    """Where the bench makes its databases, and the migrated template they are copied from."""

    server: PostgresServer
    template: str

    @contextmanager
    def fresh(self, part: str) -> Iterator[BenchDatabase]:
        """An empty database at the newest schema, for one part; dropped on exit."""
        name = _name(part)
        asyncio.run(_copy(self.server, self.template, name))
        try:
            yield BenchDatabase(
                name, self.server.database_url(name), self.server.database_url(name, driver="")
            )
        finally:
            asyncio.run(drop_database(self.server, name))


@contextmanager
def migrated_template(server: PostgresServer) -> Iterator[Databases]:
    """A database migrated by `payments migrate`, to copy for each part; dropped on exit."""
    name = _name("template")
    asyncio.run(create_database(server, name))
    try:
        migrate(server.database_url(name))
        yield Databases(server, name)
    finally:
        asyncio.run(drop_database(server, name))


def _name(part: str) -> str:
    return f"payments_bench_{part}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


async def _copy(server: PostgresServer, template: str, name: str) -> None:
    conn = await asyncpg.connect(server.admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()


def migrate(database_url: str) -> None:
    """Run `payments migrate` on `database_url`, as a separate process (from an empty
    directory: a developer's .env in the checkout must not steer it)."""
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as home:
        done = subprocess.run(
            [sys.executable, "-m", "payments.cli", "migrate"],
            env=bare_env(DATABASE_URL=database_url),
            cwd=home,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0:
        raise MigrateFailed(f"payments migrate failed ({done.returncode}): {done.stderr.strip()}")
