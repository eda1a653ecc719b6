"""A marketplace under load, and the exactly-once checks every reliability test ends with.

Sellers of each kind (the platform itself, a Connect direct-charge and a destination-charge
seller), each with unlimited, plentiful and scarce products. Hundreds of checkouts are made
through the service's own API against the Stripe test server and paid there, which records
the `checkout.session.completed` event Stripe would send. Scarce products are bought more
often than they are stocked and carts mix products, so confirmations contend for the same
stock rows and some payments arrive after the stock is gone: those orders must be refunded,
exactly once.

Everything is checked in the database and at the Stripe server, never from the service's
answers alone.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import ADMIN_KEY, Shop, wait_until

SETTLED = ("paid", "refund_pending", "refunded")
SCARCE_STOCK = 4
PLENTIFUL_STOCK = 10_000


@dataclass(frozen=True)
class Purchase:
    order_id: str
    session_id: str
    lines: tuple[tuple[str, int], ...]  # (product id, quantity)
    amount_total: int


@dataclass
class Market:
    """The catalog's starting stock, the orders made, and each one's completed event."""

    initial_stock: dict[str, int]  # products with limited stock only
    purchases: list[Purchase]
    events: dict[str, dict[str, Any]]  # order id -> its checkout.session.completed

    def event_ids(self) -> set[str]:
        return {event["id"] for event in self.events.values()}


async def open_market(
    client: httpx.AsyncClient, fake: FakeStripe, rng: random.Random, *, orders: int
) -> Market:
    """Stock the catalog, make `orders` checkouts through the service, pay each at Stripe."""
    shop = Shop(client, fake, {"Authorization": f"Bearer {ADMIN_KEY}"}, app=None)
    groups = await stock_catalog(shop, rng)
    initial = {p["id"]: p["stock"] for group in groups for p in group if p["stock"] is not None}

    gate = asyncio.Semaphore(8)

    async def buy() -> Purchase:
        lines = cart(rng, rng.choice(groups))
        async with gate:
            checkout = await shop.cart(*lines)
        total = sum(p["unit_amount"] * q for p, q in lines)
        return Purchase(
            checkout["order_id"],
            checkout["session_id"],
            tuple((p["id"], q) for p, q in lines),
            total,
        )

    purchases = list(await asyncio.gather(*[buy() for _ in range(orders)]))
    for purchase in purchases:
        fake.complete_session(purchase.session_id, outcome="paid")
    completed = {e["data"]["object"]["id"]: e for e in fake.events("checkout.session.completed")}
    events = {p.order_id: completed[p.session_id] for p in purchases}
    return Market(initial, purchases, events)


async def stock_catalog(shop: Shop, rng: random.Random) -> list[list[dict[str, Any]]]:
    """The platform's, a direct-charge and a destination-charge seller's products."""
    groups = [await _stock_group(shop, rng, seller=None)]
    for charge_type, fee_bps in (("direct", 1000), ("destination", 500)):
        groups.append(await _stock_group(shop, rng, seller=await shop.seller(charge_type, fee_bps)))
    return groups


async def _stock_group(
    shop: Shop, rng: random.Random, seller: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """One seller's products: unlimited, two plentiful and one scarce (the last)."""
    stocks = (None, PLENTIFUL_STOCK, PLENTIFUL_STOCK, SCARCE_STOCK)
    return [
        await shop.product(unit_amount=rng.randrange(500, 9_000), stock=stock, seller=seller)
        for stock in stocks
    ]


def cart(rng: random.Random, group: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """One or two lines of one seller's products; the scarce one is in about one cart in
    ten, so it is oversold several times over."""
    weights = (4, 4, 4, 1.5)
    first = rng.choices(group, weights)[0]
    products = [first]
    if rng.random() < 0.3:
        products.append(rng.choice([p for p in group if p is not first]))
    return [(p, rng.randint(1, 2)) for p in products]


# --- Stripe's side: deliveries and the buyer's return ------------------------------------


@dataclass(frozen=True)
class Answer:
    kind: str  # "webhook" or "verify"
    order_id: str
    event_id: str | None
    status: int | None  # None: no answer at all (refused, reset, timed out)
    url: str  # the service that was asked

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


Call = tuple[str, str]  # ("webhook" | "verify", order id)


@dataclass
class Stripe:
    """Delivers signed events and makes verify calls, to one service or several (chosen at
    random per request, like a load balancer), and keeps every answer."""

    fake: FakeStripe
    market: Market
    urls: Sequence[str]
    rng: random.Random
    in_flight: int = 32  # requests at once; Stripe's own concurrency per endpoint is similar
    answers: list[Answer] = field(default_factory=list)

    def storm(
        self, order_ids: Sequence[str], *, copies: tuple[int, int] = (1, 5)
    ) -> list[list[Call]]:
        """Each order's event `copies` times (drawn per order), sent together, and a verify
        call in about half of them; the jobs shuffled."""
        jobs: list[list[Call]] = []
        for order_id in order_ids:
            job: list[Call] = [("webhook", order_id)] * self.rng.randint(*copies)
            if self.rng.random() < 0.5:
                job.insert(self.rng.randrange(len(job) + 1), ("verify", order_id))
            jobs.append(job)
        self.rng.shuffle(jobs)
        return jobs

    async def run(self, jobs: Sequence[list[Call]], *, at_once: int = 12) -> list[Answer]:
        """Run the jobs, `at_once` jobs at a time, each job's calls concurrently."""
        requests = asyncio.Semaphore(self.in_flight)
        slots = asyncio.Semaphore(at_once)
        answers: list[Answer] = []
        limits = httpx.Limits(
            max_connections=self.in_flight, max_keepalive_connections=self.in_flight
        )
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def call(kind: str, order_id: str) -> None:
                async with requests:
                    answer = await self._call(client, kind, order_id)
                answers.append(answer)
                self.answers.append(answer)

            async def job(calls: list[Call]) -> None:
                async with slots:
                    await asyncio.gather(*[call(kind, order_id) for kind, order_id in calls])

            await asyncio.gather(*[job(calls) for calls in jobs])
        return answers

    async def _call(self, client: httpx.AsyncClient, kind: str, order_id: str) -> Answer:
        base = self.rng.choice(self.urls)
        event = self.market.events[order_id]
        try:
            if kind == "webhook":
                body, headers = self.fake.signed(event)
                path = "/webhooks/stripe/connect" if event.get("account") else "/webhooks/stripe"
                response = await client.post(f"{base}{path}", content=body, headers=headers)
            else:
                session_id = event["data"]["object"]["id"]
                response = await client.get(
                    f"{base}/checkout/verify", params={"session_id": session_id}
                )
        except httpx.TransportError:
            status = None
        else:
            status = response.status_code
        return Answer(kind, order_id, event["id"] if kind == "webhook" else None, status, base)

    def acknowledged(self) -> set[str]:
        """Orders whose event got a 2xx at least once: Stripe stops retrying those."""
        return {a.order_id for a in self.answers if a.kind == "webhook" and a.ok}


def statuses(answers: Sequence[Answer]) -> Counter[int | None]:
    return Counter(a.status for a in answers)


# --- What must hold afterwards ---------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    paid: int
    refunded: int


async def wait_for_refunds(database_url: str, market: Market, *, within: float = 60.0) -> None:
    """Wait until the outbox has refunded every order it queued a refund for."""
    ids = [p.order_id for p in market.purchases]

    async def none_pending() -> bool:
        conn = await connect(database_url)
        try:
            pending = await conn.fetchval(
                "SELECT count(*) FROM orders"
                " WHERE id = ANY($1::uuid[]) AND status = 'refund_pending'",
                ids,
            )
        finally:
            await conn.close()
        return bool(pending == 0)

    await wait_until(none_pending, within=within)


async def connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(database_url.replace("+asyncpg", ""))


async def assert_settled(database_url: str, market: Market, order_ids: set[str]) -> None:
    """A 2xx means committed: each of these orders is paid, or refunding for lack of stock."""
    conn = await connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT id::text, status FROM orders WHERE id = ANY($1::uuid[])", list(order_ids)
        )
    finally:
        await conn.close()
    unsettled = {r["id"]: r["status"] for r in rows if r["status"] not in SETTLED}
    assert len(rows) == len(order_ids)
    assert not unsettled, f"acknowledged but not committed: {unsettled}"


async def assert_exactly_once(
    database_url: str, fake: FakeStripe, market: Market, *, refunds_sent: bool
) -> Outcome:
    """Every order confirmed exactly once, stock exact, one event row per event id, and each
    oversold order's refund queued once (and, with `refunds_sent`, made once at Stripe)."""
    conn = await connect(database_url)
    try:
        orders = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id::text, status, amount_total, amount_paid, paid_at, cancel_reason,"
                " provider_payment_id FROM orders"
            )
        }
        stock = {
            r["id"]: r["stock"] for r in await conn.fetch("SELECT id::text, stock FROM products")
        }
        event_rows = Counter(
            r["event_id"] for r in await conn.fetch("SELECT event_id FROM webhook_events")
        )
        outbox = await conn.fetch("SELECT order_id::text, idempotency_key, done_at FROM outbox")
        refunds = await conn.fetch(
            "SELECT id::text, order_id::text, provider_refund_id, amount FROM refunds"
        )
    finally:
        await conn.close()

    assert set(orders) == {p.order_id for p in market.purchases}
    paid = [p for p in market.purchases if orders[p.order_id]["status"] == "paid"]
    oversold = [p for p in market.purchases if orders[p.order_id]["status"] != "paid"]
    lost = {p.order_id: orders[p.order_id]["status"] for p in oversold}
    lost = {k: v for k, v in lost.items() if v not in ("refund_pending", "refunded")}
    assert not lost, f"orders not confirmed: {lost}"

    for purchase in market.purchases:
        order = orders[purchase.order_id]
        assert order["amount_paid"] == purchase.amount_total  # the payment was recorded once
        assert order["paid_at"] is not None
    for purchase in oversold:
        assert orders[purchase.order_id]["cancel_reason"] == "out_of_stock"

    # Stock: taken once per paid order, never for an oversold one, never below zero.
    taken: Counter[str] = Counter()
    for purchase in paid:
        for product_id, quantity in purchase.lines:
            taken[product_id] += quantity
    expected = {pid: initial - taken[pid] for pid, initial in market.initial_stock.items()}
    assert {pid: stock[pid] for pid in expected} == expected
    assert all(value >= 0 for value in expected.values())
    for purchase in oversold:  # refunded only because some line really did not fit
        assert any(q > stock[pid] for pid, q in purchase.lines if pid in expected), purchase

    # One row per event id, and every event recorded (nothing else either).
    assert event_rows == Counter(market.event_ids())

    # One refund queued per oversold order, none for a paid one.
    keys = Counter(row["order_id"] for row in outbox)
    assert keys == Counter(p.order_id for p in oversold)
    # Each under the key of the refund row written with it.
    assert Counter(r["order_id"] for r in refunds) == Counter(p.order_id for p in oversold)
    assert {row["idempotency_key"] for row in outbox} == {f"refund:{r['id']}" for r in refunds}
    if refunds_sent:
        _assert_refunded_once(fake, market, orders, oversold, outbox, refunds)
    return Outcome(paid=len(paid), refunded=len(oversold))


def _assert_refunded_once(
    fake: FakeStripe,
    market: Market,
    orders: dict[str, Any],
    oversold: list[Purchase],
    outbox: list[Any],
    refunds: list[Any],
) -> None:
    """At Stripe: one refund per oversold payment, each under its own idempotency key; in the
    database: each order refunded, its refund recorded once, its outbox message done."""
    assert all(orders[p.order_id]["status"] == "refunded" for p in oversold)
    assert all(row["done_at"] is not None for row in outbox)
    assert Counter(r["order_id"] for r in refunds) == Counter(p.order_id for p in oversold)
    amounts = {r["order_id"]: r["amount"] for r in refunds}
    assert all(amounts[p.order_id] == p.amount_total for p in oversold)

    ours = {p.order_id for p in market.purchases}
    made = [r.refund for r in fake.refunds() if r.refund["metadata"].get("order_id") in ours]
    refunded_intents = Counter(r["payment_intent"] for r in made)
    assert refunded_intents == Counter(orders[p.order_id]["provider_payment_id"] for p in oversold)
    created = {e["data"]["object"]["id"]: e for e in fake.events("refund.created")}
    keys = [created[r["id"]]["request"]["idempotency_key"] for r in made]
    assert len(set(keys)) == len(keys) == len(oversold)
    assert set(keys) == {row["idempotency_key"] for row in outbox}
