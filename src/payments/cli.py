"""The `payments` command: serve the API, migrate and seed the database, run the demo.

Everything that can stop `serve` from starting is checked before the server starts
(settings, the addresses it listens on, the sandbox's database, the schema), and each
problem is one line on stderr with a non-zero exit: never a traceback, and never after
start-up work already ran.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sqlite3
import sys
from typing import Literal

from sqlalchemy.engine import make_url

from payments.config import (
    DatabaseSettings,
    Settings,
    SettingsError,
    load_database_settings,
    load_settings,
)
from payments.logging import configure_logging
from payments.migrate import (
    DatabaseUnreachable,
    Migrated,
    SchemaBehind,
    check_schema,
    describe,
    upgrade,
)

# What a process exits with when it refuses to start (argparse uses it too).
REFUSED = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="payments", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    commands.add_parser("migrate", help="upgrade the database to the newest schema")
    commands.add_parser("seed", help="add the demo catalog (running it again adds nothing)")
    demo = commands.add_parser(
        "demo", help="run one whole purchase in the sandbox and check it was confirmed once"
    )
    demo.add_argument("--database-url", help="use this database instead of a temporary SQLite file")
    reconcile = commands.add_parser(
        "reconcile",
        help="apply the provider's events (and expired checkouts) the service never recorded",
    )
    reconcile.add_argument(
        "--since",
        default="72h",
        help="how far back to list events: minutes, hours or days, e.g. 30m, 72h, 7d "
        "(default 72h; at most 30d, what Stripe keeps)",
    )
    args = parser.parse_args(argv)

    if args.command == "demo":
        from payments.demo import run_demo

        return 0 if asyncio.run(run_demo(args.database_url)) else 1
    if args.command == "migrate":
        try:
            return _migrate(load_database_settings())
        except SettingsError as exc:
            return _refuse(str(exc))
    if args.command == "reconcile":
        return _reconcile(args.since)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _refuse(str(exc))
    if args.command == "seed":
        if settings.uses_sqlite and (problem := _sqlite_problem(settings.database_url)):
            return _refuse(problem)
        try:
            created = asyncio.run(_seed(settings))
        except (DatabaseUnreachable, SchemaBehind) as exc:
            return _refuse(str(exc))
        print(f"payments: demo catalog ready ({created} products added)")
        return 0
    return _serve(settings, args.host, args.port, args.workers)


def _refuse(*problems: str) -> int:
    print("\n".join(f"payments: {problem}" for problem in problems), file=sys.stderr)
    return REFUSED


def _migrate(settings: DatabaseSettings) -> int:
    if settings.database_url.startswith("sqlite") and (
        problem := _sqlite_problem(settings.database_url)
    ):
        return _refuse(problem)
    try:
        migrated = asyncio.run(
            upgrade(settings.database_url, connect_timeout=settings.db_connect_timeout_seconds)
        )
    except DatabaseUnreachable as exc:
        return _refuse(str(exc))
    print(f"payments: {migration_report(migrated)}")
    return 0


def migration_report(migrated: Migrated) -> str:
    """What `payments migrate` did, from which revision to which."""
    if migrated.ahead:
        return (
            f"the database is at revision {describe(migrated.before)}, newer than this "
            "release's migrations (a newer release migrated it); left as it is"
        )
    if migrated.before == migrated.after:
        return f"the database is already at revision {describe(migrated.after)}, the newest schema"
    if not migrated.before:
        return f"migrated a new database to revision {describe(migrated.after)}"
    return (
        f"migrated the database from revision {describe(migrated.before)} "
        f"to {describe(migrated.after)}"
    )


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    if not 1 <= port <= 65535:
        return _refuse(f"--port must be a port number from 1 to 65535, not {port}")
    if workers < 1:
        return _refuse(f"--workers must be 1 or more, not {workers}")
    if settings.sandbox and workers > 1:
        # Each worker would start its own sandbox Stripe, holding its own sessions.
        return _refuse("the sandbox runs in one worker; drop --workers")
    if problems := _unusable_addresses(settings, host, port):
        return _refuse(*problems)
    configure_logging(settings.log_format, settings.log_level)  # for what the checks log
    if "public_url" not in settings.model_fields_set:
        # Success URLs and the sandbox's webhooks must reach this very server.
        os.environ["PUBLIC_URL"] = _local_url(host, port)
        try:
            settings = load_settings()  # the app reads them again, with PUBLIC_URL
        except SettingsError as exc:
            return _refuse(f"{exc} (from --host {host} --port {port})")
    if problem := asyncio.run(_database_problem(settings)):
        return _refuse(problem)
    import uvicorn

    uvicorn.run(
        "payments.app:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        access_log=False,
    )
    return 0


def _reconcile(since_text: str) -> int:
    """`payments reconcile`: the summary line on stdout; exit 0 only if nothing failed."""
    from payments.reconcile import command

    try:
        since = command.parse_since(since_text)
        settings = load_settings()
    except (ValueError, SettingsError) as exc:
        return _refuse(str(exc))
    api_base = str(settings.stripe_api_base).rstrip("/") if settings.stripe_api_base else None
    if settings.sandbox and api_base is None:
        if settings.sandbox_port == 0:
            return _refuse(
                "SANDBOX_PORT=0: the running sandbox's port is not known here; "
                "set STRIPE_API_BASE to its address"
            )
        # The running service's built-in Stripe, which holds its sessions and events.
        api_base = _local_url(settings.sandbox_host, settings.sandbox_port)
    if problem := command.missing_database(settings):  # never a new, empty one
        return _refuse(problem)
    if settings.uses_sqlite and (problem := _sqlite_problem(settings.database_url)):
        return _refuse(problem)
    configure_logging(settings.log_format, settings.log_level, file=command.log_stream())
    try:
        summary = asyncio.run(command.run(settings, since, api_base=api_base))
    except (DatabaseUnreachable, SchemaBehind) as exc:
        return _refuse(str(exc))
    print(summary.line(), flush=True)
    return 0 if summary.failed == 0 else 1


def _unusable_addresses(settings: Settings, host: str, port: int) -> list[str]:
    """Which of our addresses cannot be listened on, and how to choose others."""
    problems = []
    if problem := _bind_problem(host, port):
        kind, why = problem
        advice = {
            "in_use": f"another payments serve? choose another port with --port {port + 1} "
            f"(make run PORT={port + 1})",
            "host": "choose an address of this machine with --host 127.0.0.1 "
            "(make run HOST=127.0.0.1)",
            "port": "choose a port above 1023 with --port 8000 (make run PORT=8000)",
        }.get(kind)
        problems.append(
            f"cannot listen on {host} port {port}: {why}" + (f"; {advice}" if advice else "")
        )
    sandbox_host, sandbox_port = settings.sandbox_host, settings.sandbox_port
    if settings.sandbox and (problem := _bind_problem(sandbox_host, sandbox_port)):
        kind, why = problem
        if kind == "in_use":
            advice = (
                "another payments sandbox? a second one needs its own port (SANDBOX_PORT=0: any)"
            )
            if settings.uses_sqlite:
                advice += " and its own database, e.g. DATABASE_URL=sqlite+aiosqlite:///./second.db"
        elif kind == "host":
            advice = "set SANDBOX_HOST to an address of this machine, e.g. 127.0.0.1"
        else:
            advice = "set SANDBOX_PORT to another port (0: any free one)"
        problems.append(
            f"the sandbox cannot listen on {sandbox_host} port {sandbox_port}: {why}; {advice}"
        )
    return problems


BindProblem = tuple[Literal["in_use", "host", "port", "other"], str]


def _bind_problem(host: str, port: int) -> BindProblem | None:
    """Why the address cannot be listened on, and which part of it is wrong; None if it can.

    Tried before start-up work runs; the options match uvicorn's. Port 0 (any free
    port) only has its host checked.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        return "host", f"the host name does not resolve ({exc.strerror})"
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                return "in_use", "already in use"
            if exc.errno == errno.EADDRNOTAVAIL:
                return "host", why
            if exc.errno == errno.EACCES:
                return "port", why
            return "other", why
    return None


async def _database_problem(settings: Settings) -> str | None:
    """Why the service must not start on its database, or None.

    The app checks the same at start-up (`payments.app`); here it is one line instead of
    uvicorn's traceback. Outside the sandbox, a database that cannot be reached is left
    to the app, which starts and answers 503 until it can.
    """
    from payments.db import Database, create_engine
    from payments.errors import DatabaseUnavailable
    from payments.sandbox_mode import SandboxDatabaseInUse, holding_sandbox_database

    if settings.sandbox:
        try:
            with holding_sandbox_database(settings):
                pass  # free now; the app takes it for as long as it runs
        except SandboxDatabaseInUse as exc:
            return str(exc)
    if settings.uses_sqlite and (problem := _sqlite_problem(settings.database_url)):
        return problem
    if settings.migrate_on_start:  # migrated here, so a failure is one line, not uvicorn's
        try:
            await upgrade(
                settings.database_url, connect_timeout=settings.db_connect_timeout_seconds
            )
        except DatabaseUnreachable as exc:
            return str(exc)
        return None
    database = Database(create_engine(settings))
    try:
        await check_schema(database)
    except SchemaBehind as exc:
        return str(exc)
    except DatabaseUnavailable as exc:
        if settings.sandbox:  # it closes the orders a restart orphaned: it needs the database
            return str(DatabaseUnreachable(settings.database_url, exc.__cause__ or exc))
        return None
    finally:
        await database.dispose()
    return None


def _sqlite_problem(database_url: str) -> str | None:
    """Whether the SQLite file can be opened (made, if new), asked of the standard library:
    aiosqlite's worker thread, failing on a closed event loop, would add tracebacks."""
    path = make_url(database_url).database
    if not path or path == ":memory:":
        return None
    try:
        sqlite3.connect(path).close()
    except sqlite3.Error as exc:
        return str(DatabaseUnreachable(database_url, exc))
    return None


def _local_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (reading the bind address, not binding)
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _seed(settings: Settings) -> int:
    from payments.db import Database, create_engine
    from payments.errors import DatabaseUnavailable
    from payments.seed import seed_demo_catalog

    if settings.migrate_on_start:
        await upgrade(settings.database_url, connect_timeout=settings.db_connect_timeout_seconds)
    database = Database(create_engine(settings))
    try:
        await check_schema(database)
        return await seed_demo_catalog(database)
    except DatabaseUnavailable as exc:
        raise DatabaseUnreachable(settings.database_url, exc.__cause__ or exc) from exc
    finally:
        await database.dispose()


if __name__ == "__main__":
    sys.exit(main())
