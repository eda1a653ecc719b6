"""The `payments` command: migrate the database and serve the API."""

from __future__ import annotations

import argparse
import asyncio
import sys

from payments.config import SettingsError, load_settings
from payments.migrate import upgrade


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="payments", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database to the newest schema")
    serve = commands.add_parser("serve", help="run the HTTP API (migrate first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"payments: {exc}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        asyncio.run(upgrade(settings.database_url))
        print("payments: database is at the newest schema")
        return 0
    import uvicorn

    uvicorn.run(
        "payments.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
