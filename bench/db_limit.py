"""B, the database's limit: the one statement per event over an asyncpg pool, no HTTP.

    python -m bench.db_limit DATABASE_URL PARAMS_FILE [--concurrency 32]

PARAMS_FILE is a JSON list of each event's parameters (`Paid.args()`), the warm-up
first (`--warmup` of them, not timed). Runs in a process of its own, like the load
generator, and prints one JSON `PassResult` whose outcomes say what each statement did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from bench.one_statement import SQL, outcome
from bench.stats import MachineClock, summarize


async def _run(
    pool: asyncpg.Pool, params: list[list[Any]], concurrency: int
) -> tuple[list[float], Counter[str], list[str], float]:
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    pending = iter(params)

    async def worker() -> None:
        async with pool.acquire() as conn:
            for args in pending:  # one shared iterator: each event runs once
                began = time.perf_counter()
                try:
                    row = await conn.fetchrow(SQL, *args)
                except asyncpg.PostgresError as exc:
                    outcomes["error"] += 1
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - began)
                outcomes[outcome(row)] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, outcomes, failures, time.perf_counter() - start


async def _timed(pool: asyncpg.Pool, params: list[list[Any]], concurrency: int) -> Any:
    machine = MachineClock()
    latencies, outcomes, failures, seconds = await _run(pool, params, concurrency)
    return summarize(latencies, seconds, dict(outcomes), failures, machine.busy_percent())


async def measure(url: str, params: list[list[Any]], warmup: int, concurrency: int) -> Any:
    async with asyncpg.create_pool(url, min_size=concurrency, max_size=concurrency) as pool:
        await _run(pool, params[:warmup], concurrency)  # prepares the statement everywhere
        result = await _timed(pool, params[warmup:], concurrency)
    return result.to_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_limit", description=__doc__)
    parser.add_argument("database_url", help="postgresql://...")
    parser.add_argument("params", type=Path)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    params = json.loads(args.params.read_text())
    coro = measure(args.database_url, params, args.warmup, args.concurrency)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
