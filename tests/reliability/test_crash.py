"""kill -9 of the service under load: what got a 2xx is committed, and once it is back,
Stripe's redeliveries confirm the rest (and buyers' retries open the rest of the
checkouts): nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from typing import Any

import httpx

from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import ADMIN_KEY, Shop, wait_until
from tests.reliability.conftest import ServiceFactory
from tests.reliability.market import (
    Stripe,
    assert_exactly_once,
    assert_settled,
    cart,
    connect,
    open_market,
    statuses,
    stock_catalog,
    wait_for_refunds,
)

ORDERS = 240
KILL_AFTER = 200  # answers before the kill: about a third of the deliveries
CHECKOUTS = 150
KILL_AFTER_CHECKOUTS = 50
RETRY_ROUNDS = 5


async def leases_run_out(database_url: str) -> None:
    """The killed process's outbox claims expire now, as they would a minute later (the
    lease outlasts one Stripe call with its retries); the next worker claims them."""
    conn = await connect(database_url)
    try:
        await conn.execute("UPDATE outbox SET next_attempt_at = now() WHERE done_at IS NULL")
    finally:
        await conn.close()


async def test_kill_9_under_load_then_redelivery_loses_and_doubles_nothing(
    database: str, services: ServiceFactory, fake: FakeStripe, rng: random.Random
) -> None:
    """SIGKILL mid-storm: every 2xx was committed; after a restart on the same database,
    redelivering what got no 2xx (and some of what did) pays every order exactly once."""
    service = services(database)
    service.start()
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        market = await open_market(client, fake, rng, orders=ORDERS)
    stripe = Stripe(fake, market, [service.url], rng)
    order_ids = [p.order_id for p in market.purchases]

    storm = asyncio.create_task(stripe.run(stripe.storm(order_ids, copies=(1, 3))))
    await wait_until(lambda: len(stripe.answers) >= KILL_AFTER, within=120)
    service.kill()
    first = await storm

    answered = statuses(first)
    assert set(answered) <= {200, None}  # an answer before the kill is a 2xx
    assert answered[None] > 0, "the kill came after the load: it proves nothing"
    acknowledged = stripe.acknowledged()
    assert 0 < len(acknowledged) < len(order_ids)
    await assert_settled(database, market, acknowledged)

    await leases_run_out(database)
    service.start()
    unacknowledged = [o for o in order_ids if o not in acknowledged]
    again = rng.sample(sorted(acknowledged), k=len(acknowledged) // 3)
    redelivered = await stripe.run(stripe.storm(unacknowledged + again, copies=(1, 2)))

    assert statuses(redelivered) == {200: len(redelivered)}
    await wait_for_refunds(database, market)
    service.stop()
    outcome = await assert_exactly_once(database, fake, market, refunds_sent=True)
    assert outcome.refunded > 0
    print(  # in the report of a failure, and with -s
        f"killed after {KILL_AFTER} answers: {dict(answered)}, {len(acknowledged)} orders"
        f" acknowledged; redelivered {dict(statuses(redelivered))}; {outcome}"
    )


Attempt = tuple[str, dict[str, Any]]  # (Idempotency-Key, body)


async def test_kill_9_while_checkouts_open_then_retries_make_each_order_once(
    database: str, services: ServiceFactory, fake: FakeStripe, rng: random.Random
) -> None:
    """SIGKILL during a burst of POST /checkout/sessions: retried with the same
    Idempotency-Key after the restart, each purchase is one order with one Checkout Session
    at Stripe, and every answer for a key names the same order and session."""
    service = services(database)
    service.start()
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        shop = Shop(client, fake, {"Authorization": f"Bearer {ADMIN_KEY}"}, app=None)
        groups = await stock_catalog(shop, rng)
    attempts: list[Attempt] = []
    for _ in range(CHECKOUTS):
        lines = cart(rng, rng.choice(groups))
        body = {"items": [{"product_id": p["id"], "quantity": q} for p, q in lines]}
        attempts.append((str(uuid.uuid4()), body))
    answers: dict[str, list[tuple[int | None, dict[str, Any]]]] = {k: [] for k, _ in attempts}

    async def open_all(batch: list[Attempt]) -> None:
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:

            async def open_one(key: str, body: dict[str, Any]) -> None:
                async with gate:
                    try:
                        response = await client.post(
                            "/checkout/sessions", json=body, headers={"Idempotency-Key": key}
                        )
                    except httpx.TransportError:
                        answers[key].append((None, {}))
                    else:
                        answers[key].append((response.status_code, response.json()))

            await asyncio.gather(*[open_one(key, body) for key, body in batch])

    def opened() -> set[str]:
        return {k for k, got in answers.items() if any(status == 201 for status, _ in got)}

    burst = asyncio.create_task(open_all(attempts))
    await wait_until(lambda: sum(map(len, answers.values())) >= KILL_AFTER_CHECKOUTS, within=120)
    service.kill()
    await burst
    before = Counter(status for got in answers.values() for status, _ in got)
    assert set(before) <= {201, None}
    assert before[None] > 0, "the kill came after the burst: it proves nothing"

    service.start()
    done_before = sorted(opened())
    await open_all([a for a in attempts if a[0] in set(rng.sample(done_before, k=20))])
    for _ in range(RETRY_ROUNDS):  # as a client does: 409 in progress, 502 provider: retry
        missing = [a for a in attempts if a[0] not in opened()]
        if not missing:
            break
        await open_all(missing)
    service.stop()

    after = Counter(status for got in answers.values() for status, _ in got) - before
    # What a client retries (README): 409 another request in progress, 502 the provider.
    assert set(after) <= {201, 409, 502}, after
    assert opened() == set(answers)
    named = {
        k: {(g["order_id"], g["session_id"]) for s, g in got if s == 201}
        for k, got in answers.items()
    }
    assert all(len(pair) == 1 for pair in named.values())  # one order, one session per key

    conn = await connect(database)
    try:
        rows = await conn.fetch("SELECT id::text, idempotency_key, provider_session_id FROM orders")
    finally:
        await conn.close()
    assert {r["idempotency_key"]: (r["id"], r["provider_session_id"]) for r in rows} == {
        k: next(iter(pair)) for k, pair in named.items()
    }
    sessions = Counter(s["client_reference_id"] for s in fake.sessions())
    assert sessions == Counter(r["id"] for r in rows)  # no second session, none orphaned
    print(f"before the kill {dict(before)}; after the restart {dict(after)}")
