"""Database engine and sessions.

Sessions are not committed by a dependency: the service function that owns a
state change opens and commits its own transaction (see STYLE.md), so a 2xx is
never sent for work that has not been committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """One engine per process; pool set-up is done once, not per request."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_async_engine(
        url,
        hide_parameters=True,  # errors must not carry customer data into logs
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Readable in pg_stat_activity when ops look at a busy database.
        connect_args={"server_settings": {"application_name": "payments"}},
    )


def _sqlite_engine(url: str) -> AsyncEngine:
    """SQLite for the zero-config sandbox: one writer at a time, taken at BEGIN.

    SQLite's default deferred transactions fail with "database is locked" when
    two readers both try to become the writer; BEGIN IMMEDIATE takes the write
    lock up front and waits for it (busy_timeout), which gives the same
    one-winner semantics as the row locks on Postgres.
    """
    engine = create_async_engine(url, hide_parameters=True, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


OUTBOX_WRITTEN = "outbox_written"


class Database:
    """The engine, its sessions, and the one way to run a transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        # Called after a commit that queued outbox work, so it is sent at once.
        self.on_outbox_write: Callable[[], None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Run the block in one transaction and commit it before the caller answers.

        Side effects the block queued in the outbox start only after the commit.
        """
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session
            if session.info.pop(OUTBOX_WRITTEN, False) and self.on_outbox_write:
                self.on_outbox_write()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only."""
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def insert_for(session: AsyncSession) -> Callable[..., Any]:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (Postgres and SQLite)."""
    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert
