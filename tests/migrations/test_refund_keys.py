"""Migration 57c714d43d65: refunds not finished yet move to the key of the request without
`amount` (Stripe refuses a key reused with other parameters), and an order may be flagged
`refund_failed`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
import stripe
from alembic import command
from sqlalchemy.exc import IntegrityError

from payments.app import create_app
from payments.migrate import alembic_config, upgrade
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import STRIPE_KEY, Shop, make_settings
from tests.migrations.conftest import connected
from tests.migrations.tables import order_row, orders, outbox

BEFORE = "deb025ce4b3b"  # refunds under `refund:<order>:<reason>`


def refund_row(order_id: uuid.UUID, reason: str, *, done: bool) -> dict:
    return {
        "kind": "refund",
        "order_id": order_id,
        "payload": {"reason": reason},
        "idempotency_key": f"refund:{order_id}:{reason}",
        "attempts": 3,
        "done_at": datetime(2026, 11, 30, tzinfo=UTC) if done else None,
    }


async def test_unfinished_refunds_move_to_the_new_key(empty_database: str) -> None:
    """A refund still owed gets `refund-remaining:`; a finished one keeps its key as history."""
    await upgrade(empty_database, BEFORE)
    owed, finished = (order_row(None, None, None) | {"allow_promotion_codes": True} for _ in "ab")
    async with connected(empty_database) as conn:
        await conn.execute(orders.insert(), [owed, finished])
        await conn.execute(
            outbox.insert(),
            [
                refund_row(owed["id"], "out_of_stock", done=False),
                refund_row(finished["id"], "currency_mismatch", done=True),
            ],
        )

    await upgrade(empty_database)

    async with connected(empty_database) as conn:
        keys = dict(
            (await conn.execute(sa.select(outbox.c.order_id, outbox.c.idempotency_key))).all()
        )
    assert keys == {
        owed["id"]: f"refund-remaining:{owed['id']}:out_of_stock",
        finished["id"]: f"refund:{finished['id']}:currency_mismatch",
    }


async def test_orders_may_be_flagged_refund_failed(empty_database: str) -> None:
    """The review_reason check admits refund_failed and still refuses anything else."""
    await upgrade(empty_database)
    order = order_row(None, None, None) | {"allow_promotion_codes": True}
    async with connected(empty_database) as conn:
        await conn.execute(orders.insert().values(order))
        await conn.execute(orders.update().values(review_reason="refund_failed"))

    with pytest.raises(IntegrityError):
        async with connected(empty_database) as conn:
            await conn.execute(orders.update().values(review_reason="looks_odd"))
    async with connected(empty_database) as conn:
        assert (await conn.execute(sa.select(orders.c.review_reason))).scalar_one() == (
            "refund_failed"
        )


@asynccontextmanager
async def shop_on(url: str, stripe_url: str, fake: FakeStripe) -> AsyncIterator[Shop]:
    """The service on `url`, as a Shop; the sandbox Stripe reset."""
    fake.reset()
    app = create_app(make_settings(url, stripe_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Shop(
                client,
                fake,
                {"Authorization": f"Bearer {app.state.settings.admin_api_key.get_secret_value()}"},
                app,
            )


async def test_refund_first_sent_with_amount_finishes_after_the_migration(
    postgres_url: str, stripe_url: str, fake_stripe: FakeStripe
) -> None:
    """The old code refunded `amount=2500` under `refund:` and died before recording it; the
    request without amount under that key is an idempotency_error at Stripe for a day. After
    the migration the order ends refunded, with what Stripe holds as given back."""
    await upgrade(postgres_url)  # the service starts only on its own schema
    async with shop_on(postgres_url, stripe_url, fake_stripe) as shop:
        product = await shop.product(stock=1)
        first, second = await shop.checkout(product), await shop.checkout(product)
        for checkout in (first, second):
            shop.fake.complete_session(checkout["session_id"], outcome="paid")
            await shop.deliver(shop.fake.last_event("checkout.session.completed"))
        order_id = uuid.UUID(second["order_id"])
        payment_id = (await shop.order(str(order_id)))["provider_payment_id"]
        # Back to the old schema, with the owed refund queued as the old code queued it.
        await asyncio.to_thread(command.downgrade, alembic_config(postgres_url), BEFORE)
        old_key = f"refund:{order_id}:out_of_stock"
        async with connected(postgres_url) as conn:
            await conn.execute(
                outbox.update().values(idempotency_key=old_key, payload={"reason": "out_of_stock"})
            )
            assert (await conn.execute(sa.text("SELECT count(*) FROM refunds"))).scalar_one() == 0
        http = stripe.HTTPXClient(timeout=5)
        old_code = stripe.StripeClient(
            STRIPE_KEY, base_addresses={"api": stripe_url}, http_client=http
        )
        await old_code.v1.refunds.create_async(  # what the old code sent, accepted by Stripe
            {
                "payment_intent": payment_id,
                "amount": 2500,
                "reason": "requested_by_customer",
                "metadata": {"order_id": str(order_id), "reason": "out_of_stock"},
            },
            {"idempotency_key": old_key},
        )
        await http.close_async()

        await upgrade(postgres_url)
        await shop.drain_outbox()

        order = await shop.order(str(order_id))
        async with connected(postgres_url) as conn:
            last_error = (
                await conn.execute(sa.text("SELECT max(last_error) FROM outbox"))
            ).scalar_one()
    assert (order["status"], last_error, order["amount_refunded"]) == ("refunded", None, 2500)
    # The queued refund found nothing left (canceled); the old code's, fetched from Stripe,
    # is the one that gave the money back.
    assert sorted((r["amount"], r["status"]) for r in order["refunds"]) == [
        (2500, "canceled"),
        (2500, "succeeded"),
    ]
    assert len(fake_stripe.refunds()) == 1  # the old code's: nothing refunded twice
