"""EXPLAIN of every statement the service runs on the webhook path (`make bench-explain`).

    python -m bench.explain > explain.md

The statements are not kept by hand: `payments serve` runs against a database with
100k orders already stored, through a proxy that records what it sends
(bench/pg_capture.py). After a warm-up, it delivers a platform and a Connect event,
each twice (first delivery, duplicate), and records each delivery's statements and
round trips. Each distinct statement is then EXPLAINed with its generic plan (the one
a prepared statement settles on, whatever the parameters), and any sequential scan of
a table that grows with the business is flagged.

Prints Markdown, for bench/README.md.
"""

from __future__ import annotations

import asyncio
import random
import sys
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from bench import events, orders, servers
from bench.databases import BenchDatabase, migrated_template
from bench.pg_capture import capturing
from tests.support.postgres import find_postgres

STORED_ORDERS = 100_000
GROWING_TABLES = ("orders", "order_items", "webhook_events", "outbox", "refunds")
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "SHOW", ";", "")


def _through(url: str, port: int) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{port}" if auth else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _deliver(client: httpx.Client, order: orders.Order, port: int) -> None:
    (delivery,) = events.deliveries([order])
    request = events.signed_requests([delivery], port)[0]
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    headers = dict(line.split(": ", 1) for line in lines)
    for computed in ("Host", "Content-Length"):
        headers.pop(computed)
    client.post(delivery.path, content=body, headers=headers).raise_for_status()


async def _setup(db: BenchDatabase) -> list[orders.Order]:
    """Catalog, 100k orders of history, then two platform and two Connect pending orders."""
    rng = random.Random("explain")
    catalog = orders.make_catalog(rng)
    batch = orders.make_orders(catalog, 4, rng)  # platform, connect, platform, connect
    conn = await db.connect()
    try:
        await orders.insert_catalog(conn, catalog, batch)
        await orders.fill_history(conn, STORED_ORDERS)
        await orders.insert_orders(conn, batch)
        await orders.settle(conn)
    finally:
        await conn.close()
    return batch


def _capture(db: BenchDatabase, admin_url: str) -> list[tuple[str, list[str], int]]:
    """Each recorded delivery: its name, the statements it ran, its round trips."""
    batch = asyncio.run(_setup(db))
    upstream = urlsplit(admin_url)
    recorded = []
    with (
        capturing(upstream.hostname or "127.0.0.1", upstream.port or 5432) as capture,
        # The outbox off, so that its poller's queries do not mix with the webhook's.
        servers.payments_serve(
            _through(db.url, capture.port),
            workers=1,
            stripe_api_base=servers.unused_url(),
            OUTBOX_ENABLED="false",
        ) as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}") as client,
    ):
        for order in batch[:2]:  # warm-up: connections opened, statements prepared
            _deliver(client, order, port)
            _deliver(client, order, port)
        for order in batch[2:]:
            limited = sum(1 for product, _ in order.items if product.limited)
            kind = f"{'Connect' if order.account else 'platform'} ({limited} limited items)"
            for delivery in ("first delivery", "duplicate"):
                capture.recording = True
                _deliver(client, order, port)
                capture.recording = False
                recorded.append((f"{kind}, {delivery}", *capture.take()))
    return recorded


async def _generic_plan(conn: asyncpg.Connection, query: str) -> str:
    """The generic plan of `query` (parameters $1.. unknown), without running it."""
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    await conn.execute(f"PREPARE bench_explain AS {query}")
    try:
        count = await conn.fetchval(
            "SELECT cardinality(parameter_types) FROM pg_prepared_statements"
            " WHERE name = 'bench_explain'"
        )
        args = ", ".join(["NULL"] * count)
        rows = await conn.fetch(f"EXPLAIN EXECUTE bench_explain{f'({args})' if count else ''}")
    finally:
        await conn.execute("DEALLOCATE bench_explain")
    return "\n".join(row[0] for row in rows)


def _is_control(query: str) -> bool:
    first = query.strip().split(None, 1)[0].upper().rstrip(";") if query.strip() else ""
    return first in CONTROL or query.strip().upper().startswith("SELECT 1")


def _short(query: str, width: int = 90) -> str:
    flat = " ".join(query.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


async def _plans(db: BenchDatabase, queries: list[str]) -> tuple[str, dict[str, str]]:
    conn = await db.connect()
    try:
        version = str(await conn.fetchval("SHOW server_version"))
        return version, {q: await _generic_plan(conn, q) for q in queries if not _is_control(q)}
    finally:
        await conn.close()


def explain() -> str:
    with find_postgres() as server, migrated_template(server) as dbs, dbs.fresh("explain") as db:
        recorded = _capture(db, server.admin_url)
        distinct = list(dict.fromkeys(q for _, executed, _ in recorded for q in executed))
        version, plans = asyncio.run(_plans(db, distinct))
    lines = [
        f"Captured from `payments serve` on PostgreSQL {version}, {STORED_ORDERS:,} orders "
        "stored; generic plans (`plan_cache_mode = force_generic_plan`).",
        "",
        "| delivery | round trips | statements, in order |",
        "|---|---|---|",
    ]
    number = {q: n for n, q in enumerate(plans, 1)}
    for name, executed, trips in recorded:
        steps = " ".join(f"#{number[q]}" if q in number else f"`{_short(q, 20)}`" for q in executed)
        lines.append(f"| {name} | {trips} | {steps} |")
    scans = []
    for query, plan in plans.items():
        lines += [
            "",
            f"#{number[query]}",
            "",
            "```sql",
            query.strip(),
            "```",
            "",
            "```",
            plan,
            "```",
        ]
        scans += [f"#{number[query]}: {t}" for t in GROWING_TABLES if f"Seq Scan on {t} " in plan]
    lines += [
        "",
        "Sequential scans of growing tables: " + ("; ".join(scans) if scans else "none."),
    ]
    return "\n".join(lines)


def main() -> int:
    print(explain())
    return 0


if __name__ == "__main__":
    sys.exit(main())
