"""When the database is down, a webhook answers 503 (Stripe retries) and nothing is lost."""

from __future__ import annotations

import httpx

from payments.app import create_app
from payments.migrate import upgrade
from tests.conftest import ADMIN_KEY, Shop, make_settings
from tests.support.postgres import create_database, throwaway_cluster


async def test_webhook_during_a_database_outage_is_retried_by_stripe(
    stripe_url, fake_stripe
) -> None:
    """503 while Postgres is down, then the redelivered event confirms the order once."""
    fake_stripe.reset()
    with throwaway_cluster() as cluster:  # never stop the shared server
        await create_database(cluster.server, "payments")
        url = cluster.server.database_url("payments")
        await upgrade(url)
        app = create_app(make_settings(url, stripe_url))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                shop = Shop(client, fake_stripe, {"Authorization": f"Bearer {ADMIN_KEY}"}, app)
                product = await shop.product(stock=2)
                checkout = await shop.checkout(product)
                shop.fake.complete_session(checkout["session_id"], outcome="paid")
                event = shop.fake.last_event("checkout.session.completed")

                cluster.stop("immediate")
                during = await shop.deliver(event)
                ready = await client.get("/readyz")
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
