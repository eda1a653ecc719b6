"""The bench driver: every part on a fresh database, one table at the end.

    python -m bench.run            # the full run, a few minutes (make bench)
    BENCH_QUICK=1 python -m bench.run   # everything tiny, well under a minute

Exits 1 when a correctness check fails (or a part cannot run), 0 otherwise, even
when a target is missed: targets are reported, correctness is enforced.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench import checks, events, orders, servers, shop_receiver
from bench.databases import BenchDatabase, Databases, migrated_template
from bench.load import http_request, write_requests
from bench.one_statement import Paid
from bench.report import AGAIN, Row, table
from bench.stats import PassResult
from tests.support.postgres import PostgresServer, find_postgres

CONCURRENCY = 32
DUPLICATES = 3


@dataclass(frozen=True)
class Sizes:
    """How much each part sends; `quick` is for CI (tests/test_bench.py)."""

    name: str
    warmup: int  # orders delivered before each timed pass, not timed
    service_orders: int  # A1, A2 (then each event DUPLICATES more times)
    common_orders: int  # C
    fast_orders: int  # B and D, which are an order of magnitude faster
    latency_rate: float  # events/s offered to A1, open loop
    latency_seconds: float
    growth_levels: tuple[int, ...]  # orders already stored
    growth_orders: int  # the fresh batch measured at each level
    checkouts: int

    @classmethod
    def full(cls) -> Sizes:
        return cls("full", 64, 8000, 2000, 8000, 100.0, 10.0, (1_000, 10_000, 100_000), 4000, 500)

    @classmethod
    def quick(cls) -> Sizes:
        return cls("quick", 16, 60, 100, 300, 100.0, 1.0, (1_000, 2_000), 60, 30)


class Failed(RuntimeError):
    """A part could not produce a trustworthy number; the message says what is wrong."""


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


def _level_name(count: int) -> str:
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


# --- sending load ----------------------------------------------------------------


def send(
    requests: list[bytes], port: int, *, rate: float | None = None, expect: int = 200
) -> PassResult:
    """One pass by the load generator in its own process; every answer must be `expect`."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        path = Path(tmp) / "requests.bin"
        write_requests(path, requests)
        command = [sys.executable, "-m", "bench.load", str(path), "--port", str(port)]
        command += ["--concurrency", str(CONCURRENCY)]
        if rate is not None:
            command += ["--rate", str(rate)]
        done = subprocess.run(  # noqa: S603 (our own generator, no shell)
            command, capture_output=True, text=True, check=False, timeout=900
        )
    if done.returncode != 0:
        raise Failed(f"the load generator failed: {done.stderr.strip()[-2000:]}")
    result = PassResult.from_json(json.loads(done.stdout))
    wrong = {k: n for k, n in result.outcomes.items() if k != str(expect)}
    if wrong:
        raise Failed(
            f"{sum(wrong.values())} of {result.count} answers were not {expect}: {wrong}; "
            f"e.g. {result.failures[:2]}"
        )
    return result


def deliver(batch: list[orders.Order], port: int, *, times: int = 1, **kw: Any) -> PassResult:
    """Each order's completed event, `times` times each, shuffled when repeated, signed now."""
    items = events.deliveries(batch) * times
    if times > 1:
        random.Random(7).shuffle(items)
    return send(events.signed_requests(items, port), port, **kw)


# --- databases --------------------------------------------------------------------


@dataclass
class Prepared:
    """A database with its orders, and what the checks compare against."""

    db: BenchDatabase
    warm: list[orders.Order]
    timed: list[orders.Order]
    initial_stock: dict[str, int | None]
    events_before: int

    async def problems(self) -> list[str]:
        conn = await self.db.connect()
        try:
            return await checks.problems_after_pass(
                conn, self.warm + self.timed, self.initial_stock, self.events_before
            )
        finally:
            await conn.close()

    def check(self, part: str) -> None:
        found = run_async(self.problems())
        if found:
            raise Failed(f"{part}: " + "; ".join(found))


async def _setup(
    db: BenchDatabase, catalog: orders.Catalog, batch: list[orders.Order], history: int
) -> tuple[dict[str, int | None], int]:
    conn = await db.connect()
    try:
        await orders.insert_catalog(conn, catalog, batch)
        events_before = await orders.fill_history(conn, history) if history else 0
        await orders.insert_orders(conn, batch)
        await orders.settle(conn)
        return await checks.stock_now(conn), events_before
    finally:
        await conn.close()


@contextmanager
def prepared(
    dbs: Databases, part: str, warmup: int, count: int, *, history: int = 0
) -> Iterator[Prepared]:
    rng = random.Random(f"{part}-{count}")
    catalog = orders.make_catalog(rng)
    batch = orders.make_orders(catalog, warmup + count, rng)
    with dbs.fresh(part.lower()) as db:
        stock, events_before = run_async(_setup(db, catalog, batch, history))
        yield Prepared(db, batch[:warmup], batch[warmup:], stock, events_before)


# --- the parts --------------------------------------------------------------------


def part_service(dbs: Databases, sizes: Sizes, workers: int) -> list[Row]:
    """A: `payments serve`, first deliveries, then every event DUPLICATES more times."""
    key = f"A{workers}"
    name = f"{key}  payments serve, {workers} worker{'s' if workers > 1 else ''}"
    with (
        prepared(dbs, key, sizes.warmup, sizes.service_orders) as p,
        servers.payments_serve(
            p.db.url, workers=workers, stripe_api_base=servers.unused_url()
        ) as port,
    ):
        deliver(p.warm, port)
        first = deliver(p.timed, port)
        p.check(f"{key} first deliveries")
        again = deliver(p.timed, port, times=DUPLICATES)
        p.check(f"{key} duplicates")
    return [
        Row(key, f"{name}, first deliveries", first, True),
        Row(f"{key}dup", f"{name}, each event {DUPLICATES}x more", again, True),
    ]


def part_events(dbs: Databases, sizes: Sizes) -> list[Row]:
    """E: A1 with one shop endpoint taking every event: each payment also writes its
    `order.paid` and delivery (in the same statement), and the sender posts them."""
    with (
        shop_receiver.running() as receiver,
        prepared(dbs, "E", sizes.warmup, sizes.service_orders) as p,
    ):
        run_async(_register(p.db, receiver))
        with servers.payments_serve(
            p.db.url,
            workers=1,
            stripe_api_base=servers.unused_url(),
            MERCHANT_WEBHOOKS_ALLOW_PRIVATE="true",
        ) as port:
            deliver(p.warm, port)
            first = deliver(p.timed, port)
            p.check("E first deliveries")
            run_async(_all_written(p.db, len(p.warm) + len(p.timed)))
            _wait_sent(receiver, len(p.warm) + len(p.timed))
    return [Row("E", "E   A1 with a shop endpoint, first deliveries", first, True)]


async def _register(db: BenchDatabase, receiver: shop_receiver.ShopReceiver) -> None:
    conn = await db.connect()
    try:
        await shop_receiver.register(conn, receiver)
    finally:
        await conn.close()


async def _all_written(db: BenchDatabase, paid: int) -> None:
    """Every paid order told once: one `order.paid` each, nothing else."""
    conn = await db.connect()
    try:
        told = await conn.fetchval(
            "SELECT count(DISTINCT order_id) FROM merchant_events WHERE type = 'order.paid'"
        )
        written = await conn.fetchval("SELECT count(*) FROM merchant_events")
    finally:
        await conn.close()
    if (told, written) != (paid, paid):
        raise Failed(f"E: {written} events for {told} of {paid} paid orders")


def _wait_sent(receiver: shop_receiver.ShopReceiver, paid: int) -> None:
    """Each event posted to the shop (the sender may still be at it after the pass)."""
    deadline = time.monotonic() + 120
    while len(receiver.webhook_ids) < paid and time.monotonic() < deadline:
        time.sleep(0.2)
    if len(receiver.webhook_ids) != paid:
        raise Failed(f"E: {len(receiver.webhook_ids)} of {paid} events reached the shop")


def part_db_limit(dbs: Databases, sizes: Sizes) -> list[Row]:
    """B: the one statement per event over an asyncpg pool, in a process of its own."""
    with prepared(dbs, "B", sizes.warmup, sizes.fast_orders) as p:
        params = [paid_args(order).args() for order in p.warm + p.timed]
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            path = Path(tmp) / "params.json"
            path.write_text(json.dumps(params))
            command = [sys.executable, "-m", "bench.db_limit", p.db.plain_url, str(path)]
            command += ["--warmup", str(len(p.warm)), "--concurrency", str(CONCURRENCY)]
            done = subprocess.run(  # noqa: S603 (our own runner, no shell)
                command, capture_output=True, text=True, check=False, timeout=900
            )
        if done.returncode != 0:
            raise Failed(f"B's runner failed: {done.stderr.strip()[-2000:]}")
        result = PassResult.from_json(json.loads(done.stdout))
        if result.outcomes != {"paid": len(p.timed)}:
            raise Failed(f"B: expected every statement to pay its order, got {result.outcomes}")
        p.check("B")
    return [Row("B", "B   one statement, asyncpg pool, no HTTP", result, True)]


def paid_args(order: orders.Order) -> Paid:
    """What the order's completed event asks of the one statement (B has no HTTP)."""
    return Paid(
        event_id=order.event_id,
        endpoint="connect" if order.account else "platform",
        type="checkout.session.completed",
        account=order.account,
        livemode=False,
        amount=order.amount_total,
        payment_intent=order.payment_intent,
        session_id=order.session_id,
        currency=orders.CURRENCY,
    )


def part_app(dbs: Databases, sizes: Sizes, key: str) -> list[Row]:
    """C or D: the bench's own app under the same uvicorn as the service, one worker."""
    app, count, label = {
        "C": (
            "bench.fastapi_common:app",
            sizes.common_orders,
            "C   FastAPI, construct_event, one transaction",
        ),
        "D": (
            "bench.lean_asgi:app",
            sizes.fast_orders,
            "D   plain ASGI, verify_header, one statement",
        ),
    }[key]
    with (
        prepared(dbs, key, sizes.warmup, count) as p,
        servers.uvicorn_app(app, p.db.plain_url) as port,
    ):
        deliver(p.warm, port)
        result = deliver(p.timed, port)
        p.check(key)
    return [Row(key, label, result, True)]


def part_latency(dbs: Databases, sizes: Sizes) -> list[Row]:
    """L: A with one worker at a fixed offered rate, open loop."""
    count = int(sizes.latency_rate * sizes.latency_seconds)
    with (
        prepared(dbs, "L", sizes.warmup, count) as p,
        servers.payments_serve(p.db.url, workers=1, stripe_api_base=servers.unused_url()) as port,
    ):
        deliver(p.warm, port)
        result = deliver(p.timed, port, rate=sizes.latency_rate)
        p.check("L")
    label = (
        f"L   A1 open loop, {sizes.latency_rate:.0f}/s offered for {sizes.latency_seconds:.0f} s"
    )
    return [Row("L", label, result, True)]


def part_growth(dbs: Databases, sizes: Sizes, stored: int, *, again: bool = False) -> list[Row]:
    """G: A with one worker, a fresh batch, `stored` orders already in the tables.

    `again`: the smallest level's second run, after the largest (see `growth_order`)."""
    level = _level_name(stored)
    with (
        prepared(dbs, f"G{level}", sizes.warmup, sizes.growth_orders, history=stored) as p,
        servers.payments_serve(p.db.url, workers=1, stripe_api_base=servers.unused_url()) as port,
    ):
        deliver(p.warm, port)
        result = deliver(p.timed, port)
        p.check(f"growth {level}")
    label = f"G   A1 first deliveries, {level} orders stored"
    if again:
        return [Row(f"G{level}{AGAIN}", f"{label} (again)", result, True)]
    return [Row(f"G{level}", label, result, True)]


def growth_order(levels: tuple[int, ...]) -> list[tuple[int, bool]]:
    """Smallest, largest, smallest again, then the levels between: (level, again).

    This machine drifts by tens of percent over a minute (other work comes and goes).
    The growth ratio compares the largest level with the mean of the two runs around
    it, so a drift that is steady over that time cancels out.
    """
    smallest, *between, largest = levels
    return [(smallest, False), (largest, False), (smallest, True), *((n, False) for n in between)]


def part_checkout(dbs: Databases, sizes: Sizes) -> list[Row]:
    """K: POST /checkout/sessions against the sandbox's Stripe server in its own process."""
    rng = random.Random("K")
    catalog = orders.make_catalog(rng)
    total = sizes.warmup + sizes.checkouts
    # Stock for every checkout (it is checked, not taken, when a session is created).
    stocked = orders.make_orders(catalog, total, rng)
    with dbs.fresh("k") as db:
        run_async(_setup(db, catalog, [], 0))
        run_async(_restock(db, total))
        with (
            servers.sandbox_stripe() as stripe_url,
            servers.payments_serve(db.url, workers=1, stripe_api_base=stripe_url) as port,
        ):
            bodies = [_checkout_request(order, port) for order in stocked]
            send(bodies[: sizes.warmup], port, expect=201)
            result = send(bodies[sizes.warmup :], port, expect=201)
        made = run_async(_count_sessions(db))
        if made != total:
            raise Failed(f"K: {made} orders with a Checkout Session for {total} requests")
    return [Row("K", "K   POST /checkout/sessions, sandbox Stripe", result, True)]


async def _restock(db: BenchDatabase, units: int) -> None:
    conn = await db.connect()
    try:
        await conn.execute("UPDATE products SET stock = $1 WHERE stock IS NOT NULL", units * 3)
    finally:
        await conn.close()


async def _count_sessions(db: BenchDatabase) -> int:
    conn: asyncpg.Connection = await db.connect()
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM orders WHERE status = 'pending'"
                " AND provider_session_id IS NOT NULL AND checkout_url IS NOT NULL"
            )
        )
    finally:
        await conn.close()


def _checkout_request(order: orders.Order, port: int) -> bytes:
    body = {
        "items": [{"product_id": str(p.id), "quantity": q} for p, q in order.items],
        "customer_email": f"buyer-{order.id.hex[:8]}@example.com",
    }
    return http_request(
        "POST",
        "/checkout/sessions",
        f"127.0.0.1:{port}",
        {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
        json.dumps(body).encode(),
    )


# --- the run ----------------------------------------------------------------------


def _machine(server: PostgresServer) -> str:
    async def version() -> str:
        conn = await asyncpg.connect(server.admin_url)
        try:
            return str(await conn.fetchval("SHOW server_version")).split()[0]
        finally:
            await conn.close()

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), PostgreSQL {run_async(version())} ({server.source}), "
        f"Python {platform.python_version()}"
    )


def parts(sizes: Sizes) -> list[tuple[str, Callable[[Databases], list[Row]]]]:
    """Every part in the order it runs, with the label its row has if it fails."""
    return [
        ("A1  payments serve, 1 worker", lambda d: part_service(d, sizes, 1)),
        ("A2  payments serve, 2 workers", lambda d: part_service(d, sizes, 2)),
        ("E   A1 with a shop endpoint", lambda d: part_events(d, sizes)),
        ("B   one statement", lambda d: part_db_limit(d, sizes)),
        ("C   FastAPI common", lambda d: part_app(d, sizes, "C")),
        ("D   plain ASGI", lambda d: part_app(d, sizes, "D")),
        ("L   latency at a fixed rate", lambda d: part_latency(d, sizes)),
        *(
            (
                f"G   {_level_name(n)} orders stored{' (again)' if again else ''}",
                lambda d, n=n, again=again: part_growth(d, sizes, n, again=again),
            )
            for n, again in growth_order(sizes.growth_levels)
        ),
        ("K   checkout creation", lambda d: part_checkout(d, sizes)),
    ]


def main() -> int:
    sizes = Sizes.quick() if os.environ.get("BENCH_QUICK", "") not in ("", "0") else Sizes.full()
    began = time.monotonic()
    load = os.getloadavg()[0]  # other work on the machine is noise in every number
    rows: list[Row] = []
    failures: list[str] = []
    with find_postgres() as server, migrated_template(server) as dbs:
        machine = _machine(server)
        for label, part in parts(sizes):
            print(f"bench: {label} ...", end="", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                rows += part(dbs)
            except (Failed, servers.ServerFailed, OSError, asyncpg.PostgresError) as exc:
                failures.append(str(exc))
                rows.append(Row(label.split()[0], label, None, False))
            print(f" {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    minutes = (time.monotonic() - began) / 60
    title = (
        f"payments bench ({sizes.name}), one run on this machine\n"
        f"machine: {machine}\n"
        f"run: concurrency {CONCURRENCY}, load average at start {load:.1f}, "
        f"{minutes:.1f} min in all"
    )
    levels = (_level_name(sizes.growth_levels[0]), _level_name(sizes.growth_levels[-1]))
    print(table(title, rows, levels, judged=sizes.name == "full"))
    if failures:
        print("\nFAILED:\n" + "\n".join(f"- {failure}" for failure in failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
