"""kill -9 of the service under load: what got a 2xx is committed, and once it is back,
Stripe's redeliveries confirm the rest: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import random

import httpx

from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import wait_until
from tests.reliability.conftest import ServiceFactory
from tests.reliability.market import (
    Stripe,
    assert_exactly_once,
    assert_settled,
    connect,
    open_market,
    statuses,
    wait_for_refunds,
)

ORDERS = 240
KILL_AFTER = 200  # answers before the kill: about a third of the deliveries


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
