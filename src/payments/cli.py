"""The `payments` command: serve the API, migrate and seed the database, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import socket
import sys

from payments.config import Settings, SettingsError, load_settings
from payments.migrate import upgrade


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
    args = parser.parse_args(argv)

    if args.command == "demo":
        from payments.demo import run_demo

        return 0 if asyncio.run(run_demo(args.database_url)) else 1
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"payments: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        asyncio.run(upgrade(settings.database_url))
        print("payments: database is at the newest schema")
    elif args.command == "seed":
        created = asyncio.run(_seed(settings))
        print(f"payments: demo catalog ready ({created} products added)")
    else:
        return _serve(settings, args.host, args.port, args.workers)
    return 0


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    if settings.sandbox and workers > 1:
        # Each worker would start its own sandbox Stripe, holding its own sessions.
        print("payments: the sandbox runs in one worker; drop --workers", file=sys.stderr)
        return 2
    if taken := _taken_ports(settings, host, port):
        # One line each, instead of the traceback of a failed bind half-way through start-up.
        print("\n".join(f"payments: {problem}" for problem in taken), file=sys.stderr)
        return 2
    if "public_url" not in settings.model_fields_set:
        # Success URLs and the sandbox's webhooks must reach this very server.
        os.environ["PUBLIC_URL"] = _local_url(host, port)
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


def _taken_ports(settings: Settings, host: str, port: int) -> list[str]:
    """Which of our ports another process holds, and how to choose another."""
    taken = []
    if not _can_bind(host, port):
        taken.append(
            f"port {port} on {host} is already in use (another payments serve?); "
            f"choose another with --port, e.g. --port {port + 1} (make run PORT={port + 1})"
        )
    sandbox_port = settings.sandbox_port
    if settings.sandbox and sandbox_port and not _can_bind(settings.sandbox_host, sandbox_port):
        taken.append(
            f"the sandbox's port {sandbox_port} on {settings.sandbox_host} is already in use "
            "(another payments in sandbox mode?); set SANDBOX_PORT to another port, "
            "or SANDBOX_PORT=0 for any free one"
        )
    return taken


def _can_bind(host: str, port: int) -> bool:
    """False only when the address is in use; any other problem is left to the server,
    which reports it when it binds for real (the options match uvicorn's)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        return True
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE
    return True


def _local_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (reading the bind address, not binding)
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _seed(settings: Settings) -> int:
    from payments.db import Database, create_engine
    from payments.seed import seed_demo_catalog

    if settings.migrate_on_start:
        await upgrade(settings.database_url)
    database = Database(create_engine(settings))
    try:
        return await seed_demo_catalog(database)
    finally:
        await database.dispose()


if __name__ == "__main__":
    sys.exit(main())
