"""When the database is down, a webhook answers 503 (Stripe retries) and nothing is lost."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from payments.app import create_app
from payments.migrate import upgrade
from tests.conftest import ADMIN_KEY, Shop, make_settings
from tests.support.postgres import (
    PostgresServer,
    create_database,
    drop_database,
    throwaway_cluster,
)


@asynccontextmanager
async def shop_on(database_url: str, stripe_url: str, fake_stripe: Any) -> AsyncIterator[Shop]:
    """The service on a database of the test's own, driven through its API."""
    fake_stripe.reset()
    await upgrade(database_url)
    app = create_app(make_settings(database_url, stripe_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Shop(client, fake_stripe, {"Authorization": f"Bearer {ADMIN_KEY}"}, app)


async def paid_event(shop: Shop) -> tuple[dict[str, Any], dict[str, Any]]:
    """A product with stock 2, and the completed-checkout event of one paid unit."""
    product = await shop.product(stock=2)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    return product, shop.fake.last_event("checkout.session.completed")


async def test_webhook_during_a_database_outage_is_retried_by_stripe(
    stripe_url, fake_stripe
) -> None:
    """503 while Postgres is down, then the redelivered event confirms the order once."""
    with throwaway_cluster() as cluster:  # never stop the shared server
        await create_database(cluster.server, "payments")
        url = cluster.server.database_url("payments")
        async with shop_on(url, stripe_url, fake_stripe) as shop:
            product, event = await paid_event(shop)

            cluster.stop("immediate")
            during = await shop.deliver(event)
            ready = await shop.client.get("/readyz")
            cluster.start()
            after = await shop.deliver(event)
            again = await shop.deliver(event)

            assert during.status_code == 503
            assert during.json()["error"]["code"] == "service_unavailable"
            assert ready.status_code == 503
            assert ready.json()["error"]["code"] == "service_unavailable"
            assert after.status_code == 200
            assert after.json()["outcome"] == "paid"
            assert again.json()["outcome"] == "duplicate"
            assert await shop.stock(product) == 1


async def allow_connections(server: PostgresServer, name: str, allowed: bool) -> None:
    """What a DBA does to close a database: refuse new connections, end the open ones."""
    conn = await asyncpg.connect(server.admin_url)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
    finally:
        await conn.close()


async def test_webhook_while_the_database_refuses_connections_is_retried(
    pg_server, stripe_url, fake_stripe
) -> None:
    """ALLOW_CONNECTIONS false (SQLSTATE 55000) is an outage: 503, then the retry confirms once."""
    name = f"payments_closed_{uuid.uuid4().hex[:8]}"
    await create_database(pg_server, name)
    try:
        async with shop_on(pg_server.database_url(name), stripe_url, fake_stripe) as shop:
            product, event = await paid_event(shop)

            await allow_connections(pg_server, name, allowed=False)
            during = await shop.deliver(event)
            ready = await shop.client.get("/readyz")
            await allow_connections(pg_server, name, allowed=True)
            after = await shop.deliver(event)
            again = await shop.deliver(event)

            assert during.status_code == 503
            assert during.json()["error"]["code"] == "service_unavailable"
            assert ready.status_code == 503
            assert after.json()["outcome"] == "paid"
            assert again.json()["outcome"] == "duplicate"
            assert await shop.stock(product) == 1
    finally:
        await drop_database(pg_server, name)
