"""Database engine and sessions.

Sessions are not committed by a dependency: the service function that owns a
state change opens and commits its own transaction (see STYLE.md), so a 2xx is
never sent for work that has not been committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import structlog
from sqlalchemy import ColumnElement, DateTime, Interval, event, func, literal
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import PoolProxiedConnection

from payments.config import Settings
from payments.errors import DatabaseBusy, DatabaseUnavailable

log = structlog.get_logger(__name__)


def create_engine(settings: Settings) -> AsyncEngine:
    """One engine per process; pool set-up is done once, not per request.

    Every wait is bounded (DB_*_TIMEOUT_SECONDS), so a database that is down or
    never answers gives callers a fast 503 instead of a hung request.

    The pool keeps DB_POOL_SIZE connections and opens no overflow: under a burst,
    requests queue for a connection (up to DB_POOL_TIMEOUT_SECONDS) instead of
    opening and closing extra ones, which costs more than the wait. No pre-ping
    round trip before each checkout: a connection found dead when used is
    discarded, the pool with it (SQLAlchemy invalidates the connections opened
    before), and that one request gets a 503 that the provider retries.
    """
    if settings.uses_sqlite:
        return _sqlite_engine(settings)
    return create_async_engine(
        settings.database_url,
        hide_parameters=True,  # errors must not carry customer data into logs
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,  # TCP connect and handshake
            "command_timeout": settings.db_command_timeout_seconds,  # every statement
            # Readable in pg_stat_activity when ops look at a busy database.
            "server_settings": {"application_name": "payments"},
        },
    )


def _sqlite_engine(settings: Settings) -> AsyncEngine:
    """SQLite for the zero-config sandbox: one writer at a time, taken at BEGIN.

    SQLite's default deferred transactions fail with "database is locked" when
    two readers both try to become the writer; BEGIN IMMEDIATE takes the write
    lock up front and waits for it, which gives the same one-winner semantics as
    the row locks on Postgres. The wait is SQLite's busy timeout, bounded by
    DB_COMMAND_TIMEOUT_SECONDS like a statement on Postgres.
    """
    engine = create_async_engine(
        settings.database_url,
        hide_parameters=True,
        pool_timeout=settings.db_pool_timeout_seconds,
        connect_args={"timeout": settings.db_command_timeout_seconds},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


OUTBOX_WRITTEN = "outbox_written"
EVENTS_WRITTEN = "events_written"  # events for the shop's endpoints (payments.merchant_events)
# Steps a transaction owes just before its commit, by name, registered in `session.info` by
# the code that owes them (payments.merchant_events.record writes its events there).
BEFORE_COMMIT = "before_commit"


class Database:
    """The engine, its sessions, and the one way to run a transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Called after a commit that queued outbox work or events, so they are sent at once.
        self.on_outbox_write: Callable[[], None] | None = None
        self.on_events_write: Callable[[], None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Run the block in one transaction and commit it before the caller answers.

        Side effects the block queued in the outbox start only after the commit.
        Raises DatabaseUnavailable when the database cannot be reached or stops
        answering (see `_outage_is_unavailable`).
        """
        with _outage_is_unavailable():
            async with self.sessionmaker() as session, session.begin():
                await _connect(session)
                yield session
                while steps := session.info.pop(BEFORE_COMMIT, None):
                    for step in steps.values():
                        await step(session)
        if session.info.pop(OUTBOX_WRITTEN, False) and self.on_outbox_write:
            self.on_outbox_write()
        if session.info.pop(EVENTS_WRITTEN, False) and self.on_events_write:
            self.on_events_write()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only; DatabaseUnavailable as for `transaction`."""
        with _outage_is_unavailable():
            async with self.sessionmaker() as session:
                await _connect(session)
                yield session

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection's own asyncpg connection, outside any transaction (Postgres).

        For the statements that are a whole transaction on their own (see
        `orders.paid_at_once`): one round trip, with no BEGIN or COMMIT around it and
        no ORM in between. Raises DatabaseUnavailable (or DatabaseBusy) as
        `transaction` does. Only a connection known to be clean goes back to the pool.
        """
        connection = await _checkout(self.engine)
        try:
            yield connection.driver_connection
        except _CONNECTION_LOST as exc:
            # After a restart of the database every pooled connection is dead: start anew.
            connection.invalidate()
            await self.engine.dispose(close=False)
            raise _unavailable(exc) from exc
        except TimeoutError as exc:
            raise _unavailable(exc) from exc
        except asyncpg.TransactionRollbackError as exc:
            raise _busy(exc) from exc
        finally:
            # Back to the pool, also after a timeout or a cancelled request: asyncpg has
            # sent the server a cancel for the statement, and waits for it to end before
            # the connection runs the next one. (Discarding the connection instead would
            # drop that cancel, and leave the statement running on a backend nobody reads.)
            connection.close()

    async def dispose(self) -> None:
        await self.engine.dispose()


# What asyncpg raises when the connection, not the statement, failed: the socket failed
# (ConnectionError), the connection is unusable (InterfaceError; InternalClientError when
# the server ended the session while the connection sat in the pool and its protocol
# state is lost), the connection failed (class 08), or the server is shutting down or
# ended us (class 57).
_CONNECTION_LOST = (
    ConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


async def _checkout(engine: AsyncEngine) -> PoolProxiedConnection:
    """A connection from the pool, without SQLAlchemy's Connection around it (that costs
    more CPU than the statement). Failing to get one is an outage, whatever the reason
    (see `_connect`): here the driver's own errors are not wrapped in SQLAlchemy's, e.g.
    the database refusing new connections (55000 closed, 53300 too many clients)."""
    try:
        return await engine.raw_connection()
    except Exception as exc:
        raise _unavailable(exc) from exc


async def _connect(session: AsyncSession) -> None:
    """Take the session's connection now, so that failing to get one is told apart from
    a statement failing: whatever goes wrong here (refused, timed out, pool exhausted,
    the database closed to connections, SQLite's write lock not granted) is an outage."""
    try:
        await session.connection()
    except (SQLAlchemyError, OSError) as exc:
        raise _unavailable(exc) from exc


@contextmanager
def _outage_is_unavailable() -> Iterator[None]:
    """Turn a connection lost mid-request into DatabaseUnavailable; leave real errors be.

    Lost means the driver found the connection broken (SQLAlchemy then invalidates
    it: closed, reset, the server shut down or ended the session) or a socket-level
    failure, which includes a statement that hit DB_COMMAND_TIMEOUT_SECONDS. A
    statement the database rejects is a bug and is re-raised as it is.
    """
    try:
        yield
    except DBAPIError as exc:
        if _undone_by_database(getattr(exc.orig, "sqlstate", None)):
            raise _busy(exc) from exc
        if not exc.connection_invalidated:
            raise
        raise _unavailable(exc) from exc
    except OSError as exc:  # TimeoutError is one
        raise _unavailable(exc) from exc


def _undone_by_database(sqlstate: object) -> bool:
    """Class 40: a deadlock or serialization conflict the database broke by undoing us."""
    return isinstance(sqlstate, str) and sqlstate.startswith("40")


def _busy(exc: BaseException) -> DatabaseBusy:
    sqlstate = getattr(getattr(exc, "orig", exc), "sqlstate", None)
    log.warning("database.conflict", error=type(exc).__name__, sqlstate=sqlstate)
    return DatabaseBusy()


def _unavailable(exc: BaseException) -> DatabaseUnavailable:
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)  # e.g. 55000, 57P01
    log.warning("database.unavailable", error=type(exc).__name__, sqlstate=sqlstate)
    return DatabaseUnavailable()


def insert_for(session: AsyncSession) -> Callable[..., Any]:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (Postgres and SQLite)."""
    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert


def database_time_after(session: AsyncSession, delay: timedelta) -> ColumnElement[datetime]:
    """The database's clock plus `delay`, for times several replicas compare (leases, retries):
    their own clocks may disagree, the database's is one.

    Postgres adds an interval to now(). SQLite has no interval type: its datetime() takes the
    offset in seconds and answers in the format of its CURRENT_TIMESTAMP, which the other
    times in the file use too (to the second).
    """
    if session.get_bind().dialect.name == "sqlite":
        offset = f"{delay.total_seconds():+.6f} seconds"
        return func.datetime("now", offset, type_=DateTime(timezone=True))
    return func.now() + literal(delay, Interval())
