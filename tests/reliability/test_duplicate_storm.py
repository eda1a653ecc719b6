"""A duplicate storm against the real service: Stripe delivering each of 500 events 1 to 5
times at once, buyers' verify calls racing them, confirms every order exactly once."""

from __future__ import annotations

import random

import httpx

from payments.sandbox.stripe_server import FakeStripe
from tests.reliability.conftest import ServiceFactory
from tests.reliability.market import (
    Stripe,
    assert_exactly_once,
    open_market,
    statuses,
    wait_for_refunds,
)

ORDERS = 500


async def test_duplicate_storm_confirms_every_order_exactly_once(
    database: str, services: ServiceFactory, fake: FakeStripe, rng: random.Random
) -> None:
    """500 orders (platform, direct and destination charges; shared and oversold stock), each
    event 1-5 times concurrently with verify calls mixed in: every answer 2xx, each order
    paid once or refunded once for lack of stock, stock exact, one event row per event."""
    with services(database) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
            market = await open_market(client, fake, rng, orders=ORDERS)
        stripe = Stripe(fake, market, [service.url], rng)

        answers = await stripe.run(stripe.storm([p.order_id for p in market.purchases]))

        assert statuses(answers) == {200: len(answers)}
        await wait_for_refunds(database, market)
    outcome = await assert_exactly_once(database, fake, market, refunds_sent=True)
    assert outcome.refunded > 0  # the out-of-stock path was taken, not just the happy one
    print(f"{len(answers)} calls answered {dict(statuses(answers))}; {outcome}")
