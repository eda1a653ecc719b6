"""The `payments` command: serve the API, migrate and seed the database, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import os
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
