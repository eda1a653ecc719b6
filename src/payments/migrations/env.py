"""Alembic environment: async engine, the service's metadata, DATABASE_URL by default."""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from payments.migrate import (
    CONNECTION_ERRORS,
    DatabaseUnreachable,
    SchemaAhead,
    record_migration,
)
from payments.models import Base

config = context.config
# Only `alembic` run by hand reads alembic.ini (and its logging set-up); `payments migrate`
# builds its configuration in code and keeps the service's own logging.
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
if not config.get_main_option("sqlalchemy.url"):
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is required to run migrations")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))

target_metadata = Base.metadata

# One lock for every process migrating the same Postgres database ("payments" in ASCII).
MIGRATION_LOCK = 0x7061796D656E7473


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    # Batch mode lets the same migrations alter tables on SQLite.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Replicas that each run `payments migrate` on start migrate at the same
            # moment: they take turns. The lock is held until this transaction commits
            # (every migration runs in it), and Alembic reads the current revision only
            # after taking it, so the next process finds the work done and does nothing.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        migrations = context.get_context()
        before = migrations.get_current_heads()
        known = {script.revision for script in context.script.walk_revisions()}
        if any(revision not in known for revision in before):
            # A newer release migrated it; Alembic would only say it cannot find the revision.
            raise SchemaAhead(before)
        context.run_migrations()
        record_migration(config, before, migrations.get_current_heads())


async def run_migrations_online() -> None:
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
        connect_args=config.attributes.get("connect_args", {}),
    )
    try:
        try:
            connection = await engine.connect()
        except CONNECTION_ERRORS as exc:
            # One clear line for a server that is down or a database that does not exist;
            # a migration that fails once connected keeps its whole traceback.
            raise DatabaseUnreachable(str(engine.url), exc) from exc
        try:
            await connection.run_sync(do_run_migrations)
        finally:
            await connection.close()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
