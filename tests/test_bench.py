"""The bench (bench/, `make bench`): it runs, and the checks that make its numbers
trustworthy catch wrong money.

Speed is never asserted here; it is only measured, by the bench itself. Running the
quick mode once keeps the bench from rotting as the schema and the service change.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path

from bench import orders
from bench.checks import problems_after_pass, stock_now
from bench.databases import BenchDatabase, migrated_template
from bench.one_statement import SQL, outcome
from bench.run import paid_args

ROOT = Path(__file__).resolve().parent.parent
ROWS = (
    "A1  payments serve, 1 worker, first deliveries",
    "A1  payments serve, 1 worker, each event 3x more",
    "A2  payments serve, 2 workers, first deliveries",
    "A2  payments serve, 2 workers, each event 3x more",
    "B   one statement, asyncpg pool, no HTTP",
    "C   FastAPI, construct_event, one transaction",
    "D   plain ASGI, verify_header, one statement",
    "L   A1 open loop, 100/s offered for 1 s",
    "G   A1 first deliveries, 1k orders stored",
    "G   A1 first deliveries, 2k orders stored",
    "G   A1 first deliveries, 1k orders stored (again)",
    "K   POST /checkout/sessions, sandbox Stripe",
)
RATIOS = ("A1 / D", "A1 / C", "A1 / B", "A2 / A1", "duplicates / first", "p99 at 100", "growth")


def test_quick_bench_runs_every_part_and_its_checks_hold() -> None:
    """`make bench BENCH_QUICK=1`: exit 0, one table with every part checked ok, every ratio."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.run"],
        cwd=ROOT,
        env={**os.environ, "BENCH_QUICK": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for row in ROWS:
        found = [line for line in lines if line[:52].rstrip() == row]
        assert len(found) == 1, f"no row {row!r} in:\n{done.stdout}"
        assert found[0].endswith("  ok"), found[0]
    for ratio in RATIOS:
        found = [line for line in lines if line.startswith(ratio)]
        assert len(found) == 1, f"no ratio {ratio!r} in:\n{done.stdout}"
        assert found[0].rstrip().endswith("(quick run: not judged)"), found[0]


async def _pay_and_check(db: BenchDatabase) -> None:
    rng = random.Random("checks")  # noqa: S311 (repeatable test data, not a secret)
    catalog = orders.make_catalog(rng)
    batch = orders.make_orders(catalog, 4, rng)
    conn = await db.connect()
    try:
        await orders.insert_catalog(conn, catalog, batch)
        await orders.insert_orders(conn, batch)
        initial = await stock_now(conn)

        for order in batch[:3]:
            assert outcome(await conn.fetchrow(SQL, *paid_args(order).args())) == "paid"
        assert outcome(await conn.fetchrow(SQL, *paid_args(batch[0]).args())) == "duplicate"

        unpaid = await problems_after_pass(conn, batch, initial, 0)
        assert "1 of 4 orders: status pending" in unpaid
        assert "3 webhook_events rows for 4 events" in unpaid
        assert any(p.startswith("stock wrong on") for p in unpaid), unpaid

        assert outcome(await conn.fetchrow(SQL, *paid_args(batch[3]).args())) == "paid"
        assert await problems_after_pass(conn, batch, initial, 0) == []

        # A product whose stock is counted (an unlimited one has none to get wrong).
        product = next(p for order in batch for p, _ in order.items if p.limited)
        await conn.execute("UPDATE products SET stock = stock - 1 WHERE id = $1", product.id)
        taken_twice = await problems_after_pass(conn, batch, initial, 0)
    finally:
        await conn.close()
    assert len(taken_twice) == 1, taken_twice
    assert taken_twice[0].startswith("stock wrong on 1 products"), taken_twice


def test_one_statement_pays_once_and_the_checks_catch_wrong_money(pg_server) -> None:
    """B and D's statement pays each order once (a duplicate changes nothing), and the
    checks report an unpaid order, a missing event and stock taken twice."""
    with migrated_template(pg_server) as dbs, dbs.fresh("checks") as db:
        asyncio.run(_pay_and_check(db))
