"""Alembic driven from code: `payments migrate` and the tests run the same migrations.

The migrations ship inside the package (`payments/migrations`), and the Alembic
configuration is built here, so an installed wheel needs no `alembic.ini` and no
source tree. The top-level `alembic.ini` is only for running `alembic` by hand
from a checkout (e.g. `alembic revision --autogenerate`).

It also says where a database stands against this release's migrations, so the
service refuses to start on a schema it does not know (`read_schema`).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from payments.db import Database

# A package resource: Alembic resolves it with importlib.resources, wherever the
# package is installed.
SCRIPT_LOCATION = "payments:migrations"
# Where env.py leaves what it did, for `upgrade` to report.
_MIGRATED = "payments.migrated"


class DatabaseUnreachable(RuntimeError):
    """No connection to the database could be made; the message says which one and why."""

    def __init__(self, database_url: str, error: BaseException) -> None:
        where = make_url(database_url).render_as_string(hide_password=True)
        super().__init__(f"cannot connect to the database {where}: {connection_failure(error)}")


class SchemaAhead(RuntimeError):
    """The database is at a revision this release does not have: a newer release migrated it."""

    def __init__(self, current: tuple[str, ...]) -> None:
        super().__init__(
            f"the database is at revision {', '.join(current)}, which this release does not "
            "have: a newer release migrated it"
        )
        self.current = current


class SchemaBehind(RuntimeError):
    """The database lacks migrations this release needs; the message names the command."""


@dataclass(frozen=True)
class Migrated:
    """What one `upgrade` did: the revisions before and after (empty: never migrated)."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    ahead: bool = False  # at a revision of a newer release: left as it was


@dataclass(frozen=True)
class Schema:
    """Where a database stands against this release's migrations."""

    current: tuple[str, ...]  # the database's revision(s); empty: never migrated
    head: tuple[str, ...]  # the newest revision(s) this release has
    known: frozenset[str]  # every revision this release has

    @property
    def ahead(self) -> bool:
        """Migrated by a newer release (a rollback): a revision this one does not have."""
        return any(revision not in self.known for revision in self.current)

    @property
    def behind(self) -> bool:
        return not self.ahead and set(self.current) != set(self.head)

    def behind_message(self) -> str:
        at = (
            "has never been migrated"
            if not self.current
            else f"is at revision {', '.join(self.current)}"
        )
        return (
            f"the database {at}; this release needs revision {', '.join(self.head)}: "
            "run `payments migrate` first"
        )


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade(
    database_url: str, revision: str = "head", *, connect_timeout: float | None = None
) -> Migrated:
    """Upgrade the database; runs in a thread because Alembic's API is synchronous.

    Several processes may run it at once on Postgres: they take turns (env.py), and
    the later ones find the work done. A database a newer release migrated is left
    as it is (`Migrated.ahead`). Raises DatabaseUnreachable when no connection can
    be made (`connect_timeout` bounds the wait on Postgres).
    """
    config = alembic_config(database_url)
    if connect_timeout is not None and not database_url.startswith("sqlite"):
        config.attributes["connect_args"] = {"timeout": connect_timeout}
    try:
        await asyncio.to_thread(command.upgrade, config, revision)
    except SchemaAhead as exc:
        return Migrated(before=exc.current, after=exc.current, ahead=True)
    before, after = config.attributes[_MIGRATED]
    return Migrated(before=before, after=after)


def record_migration(config: Config, before: tuple[str, ...], after: tuple[str, ...]) -> None:
    """Called by env.py once the migrations ran (Alembic returns nothing itself)."""
    config.attributes[_MIGRATED] = (before, after)


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


async def read_schema(connection: AsyncConnection) -> Schema:
    """The database's revision against this release's, read without changing anything."""
    current = await connection.run_sync(
        lambda sync: MigrationContext.configure(sync).get_current_heads()
    )
    script = script_directory()
    return Schema(
        current=tuple(current),
        head=tuple(script.get_heads()),
        known=frozenset(s.revision for s in script.walk_revisions()),
    )


async def check_schema(database: Database) -> Schema:
    """Where the database stands; raises SchemaBehind if this release cannot run on it.

    Alembic's own two small reads (is there a version table; its row), through the
    service's engine so its timeouts apply (DatabaseUnavailable when the database
    cannot be reached). Behind or never migrated is fatal: every route would answer
    500 and the outbox fail each poll.
    Ahead is not (see README, "Running it"): the caller warns.
    """
    async with database.reading() as session:
        schema = await read_schema(await session.connection())
    if schema.behind:
        raise SchemaBehind(schema.behind_message())
    return schema


def describe(revisions: tuple[str, ...]) -> str:
    """`deb025ce4b3b`, or `(none: never migrated)` for an empty database."""
    return ", ".join(revisions) if revisions else "(none: never migrated)"


def connection_failure(error: BaseException) -> str:
    """Why a connection failed, in one line: the driver's own words where they are clear."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    if isinstance(error, socket.gaierror):
        return f"the host name does not resolve ({error.strerror})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the database server running, on that host and port?)"
    if isinstance(error, TimeoutError):
        return "no answer in time (is the database server up and reachable?)"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip().splitlines()
    message = text[0] if text else type(error).__name__
    if "does not exist" in message and "database" in message:
        message += " (create it, or fix DATABASE_URL)"
    return message


# What a failed connection attempt raises: the driver's errors as SQLAlchemy wraps them,
# and socket-level failures (refused, unreachable, timed out) as they are.
CONNECTION_ERRORS = (SQLAlchemyError, OSError)
