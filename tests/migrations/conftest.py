"""Databases for migration tests: empty, on Postgres and on SQLite (the sandbox's), each
taken to a chosen revision by the real migrations, with old rows written as they stood."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from tests.support.postgres import PostgresServer, create_database, drop_database


@pytest.fixture
async def postgres_url(pg_server: PostgresServer) -> AsyncIterator[str]:
    """An empty Postgres database of its own, dropped after the test."""
    name = f"payments_migration_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    await create_database(pg_server, name)
    try:
        yield pg_server.database_url(name)
    finally:
        await drop_database(pg_server, name)


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend the migrations must run on."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[AsyncConnection]:
    """One transaction on `url`, committed at the end, its engine disposed of."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            yield conn
    finally:
        await engine.dispose()
