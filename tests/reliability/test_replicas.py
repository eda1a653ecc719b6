"""Two replicas on one database, sharing the deliveries at random: exactly once still holds,
the refunds included (both run the outbox worker)."""

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

ORDERS = 300


async def test_two_replicas_sharing_the_deliveries_confirm_exactly_once(
    database: str, services: ServiceFactory, fake: FakeStripe, rng: random.Random
) -> None:
    """Each delivery and verify call goes to either replica: every answer 2xx, each order
    paid once or refunded once (at Stripe, under one idempotency key), stock exact."""
    with services(database) as first, services(database) as second:
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
            market = await open_market(client, fake, rng, orders=ORDERS)
        stripe = Stripe(fake, market, [first.url, second.url], rng)

        answers = await stripe.run(stripe.storm([p.order_id for p in market.purchases]))

        assert statuses(answers) == {200: len(answers)}
        assert {a.url for a in answers} == {first.url, second.url}
        await wait_for_refunds(database, market)
    outcome = await assert_exactly_once(database, fake, market, refunds_sent=True)
    assert outcome.refunded > 0
    print(f"{len(answers)} calls answered {dict(statuses(answers))}; {outcome}")
