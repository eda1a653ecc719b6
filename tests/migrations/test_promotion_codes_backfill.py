"""Migration deb025ce4b3b on the orders made before it (and 57c714d43d65 after its first
version): promotion codes stay allowed only where no fee is at stake, so a session created
for an old order after the deploy follows the rule new orders follow (no codes where Stripe
would fix a fee before the discount)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from payments.app import create_app
from payments.checkout.schemas import CheckoutIn
from payments.migrate import upgrade
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import make_settings
from tests.migrations.conftest import connected
from tests.migrations.tables import order_items, order_row, orders, products, seller_row, sellers

BEFORE = "f9bcf063854b"  # the schema before allow_promotion_codes


async def test_old_orders_allow_codes_exactly_where_no_fee_is_at_stake(empty_database: str) -> None:
    """No fee, a fee of 0, or a session that already allowed codes: true; a fee without a
    session yet (one will be created for it): false."""
    await upgrade(empty_database, BEFORE)
    seller_id = uuid.uuid4()
    rows = {
        "platform": order_row(None, None, None),
        "zero_fee": order_row(seller_id, 0, None),
        "fee_with_session": order_row(seller_id, 250, "cs_test_made_before"),
        "fee_without_session": order_row(seller_id, 250, None),
    }
    async with connected(empty_database) as conn:
        await conn.execute(sellers.insert().values(seller_row(seller_id)))
        await conn.execute(orders.insert(), list(rows.values()))

    await upgrade(empty_database)

    async with connected(empty_database) as conn:
        found = dict(
            (await conn.execute(sa.select(orders.c.id, orders.c.allow_promotion_codes))).all()
        )
    assert {name: found[row["id"]] for name, row in rows.items()} == {
        "platform": True,
        "zero_fee": True,
        "fee_with_session": True,
        "fee_without_session": False,
    }


async def test_old_fee_order_retried_after_the_deploy_gets_a_session_without_codes(
    postgres_url: str, stripe_url: str, fake_stripe: FakeStripe
) -> None:
    """A 10% order whose session creation failed before the deploy, retried with its
    Idempotency-Key after it: the session carries the fee and refuses promotion codes."""
    fake_stripe.reset()
    await upgrade(postgres_url, BEFORE)
    seller_id, product_id = uuid.uuid4(), uuid.uuid4()
    body: dict[str, Any] = {"items": [{"product_id": str(product_id), "quantity": 1}]}
    fingerprint = hashlib.sha256(CheckoutIn.model_validate(body).model_dump_json().encode())
    order = order_row(seller_id, 250, None) | {
        "idempotency_key": "key-made-before",
        "request_fingerprint": fingerprint.hexdigest(),
    }
    async with connected(postgres_url) as conn:
        await conn.execute(sellers.insert().values(seller_row(seller_id)))
        await conn.execute(
            products.insert().values(
                id=product_id,
                name="Ticket",
                unit_amount=2500,
                currency="usd",
                stock=5,
                seller_id=seller_id,
            )
        )
        await conn.execute(orders.insert().values(order))
        await conn.execute(
            order_items.insert().values(
                order_id=order["id"],
                product_id=product_id,
                name="Ticket",
                quantity=1,
                unit_amount=2500,
            )
        )
    await upgrade(postgres_url)

    app = create_app(make_settings(postgres_url, stripe_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/checkout/sessions", json=body, headers={"Idempotency-Key": "key-made-before"}
            )

    assert response.status_code == 201, response.text
    assert response.json()["order_id"] == str(order["id"])
    [sent] = [r.form for r in fake_stripe.requests if r.path == "/v1/checkout/sessions"]
    assert sent["payment_intent_data"]["application_fee_amount"] == "250"
    assert sent["allow_promotion_codes"] == "false"


async def test_databases_that_ran_the_first_version_are_corrected_too(
    empty_database: str,
) -> None:
    """deb025ce4b3b first set true on every old row; 57c714d43d65 sets false where a fee
    awaits its session, and leaves an order whose session exists as it is."""
    await upgrade(empty_database, "deb025ce4b3b")
    seller_id = uuid.uuid4()
    waiting = order_row(seller_id, 250, None) | {"allow_promotion_codes": True}
    with_session = order_row(seller_id, 250, "cs_test_made_before") | {
        "allow_promotion_codes": True
    }
    async with connected(empty_database) as conn:
        await conn.execute(sellers.insert().values(seller_row(seller_id)))
        await conn.execute(orders.insert(), [waiting, with_session])

    await upgrade(empty_database)

    async with connected(empty_database) as conn:
        found = dict(
            (await conn.execute(sa.select(orders.c.id, orders.c.allow_promotion_codes))).all()
        )
    assert (found[waiting["id"]], found[with_session["id"]]) == (False, True)
