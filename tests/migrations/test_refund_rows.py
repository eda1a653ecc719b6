"""Migration 8a1f3c2d9e47: refunds queued by the previous release get their rows and finish
as that release would have (same key, same request); a downgrade leaves nothing the
previous release would send wrongly."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa
import stripe
from alembic import command

from payments.migrate import alembic_config, upgrade
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import STRIPE_KEY
from tests.migrations.conftest import connected
from tests.migrations.tables import order_row, orders, outbox
from tests.migrations.test_refund_keys import shop_on

PREVIOUS = "57c714d43d65"  # refunds queued as `refund-remaining:<order>:<reason>`


async def test_refund_sent_by_the_previous_release_finishes_after_the_migration(
    postgres_url: str, stripe_url: str, fake_stripe: FakeStripe
) -> None:
    """The previous release sent the owed refund (no amount) under `refund-remaining:` and
    died before recording it: after the migration the retry sends the same request under
    the same key, gets that refund back, and records it once, unflagged."""
    await upgrade(postgres_url)
    async with shop_on(postgres_url, stripe_url, fake_stripe) as shop:
        _, second = await shop.oversold()
        order_id = uuid.UUID(second["order_id"])
        payment_id = (await shop.order(str(order_id)))["provider_payment_id"]
        await asyncio.to_thread(command.downgrade, alembic_config(postgres_url), PREVIOUS)
        old_key = f"refund-remaining:{order_id}:out_of_stock"
        async with connected(postgres_url) as conn:
            await conn.execute(
                outbox.update().values(
                    idempotency_key=old_key, payload={"reason": "out_of_stock"}, attempts=1
                )
            )
        http = stripe.HTTPXClient(timeout=5)
        old_code = stripe.StripeClient(
            STRIPE_KEY, base_addresses={"api": stripe_url}, http_client=http
        )
        await old_code.v1.refunds.create_async(  # exactly what the previous release sent
            {
                "payment_intent": payment_id,
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
    assert last_error is None
    assert (order["status"], order["amount_refunded"], order["review_reason"]) == (
        "refunded",
        2500,
        None,
    )
    assert [(r["amount"], r["status"]) for r in order["refunds"]] == [(2500, "succeeded")]
    assert len(fake_stripe.refunds()) == 1


async def test_downgrade_leaves_no_admin_refund_for_the_old_code_to_send_whole(
    postgres_url: str, stripe_url: str, fake_stripe: FakeStripe
) -> None:
    """An admin's partial refund (5.00 of 25.00) still queued at the downgrade: the previous
    release would send it without an amount (all that remains), so it is dropped, said so
    in `last_error`."""
    await upgrade(postgres_url)
    async with shop_on(postgres_url, stripe_url, fake_stripe) as shop:
        order = await shop.paid()
        assert (await shop.refund(order["id"], amount=500)).status_code == 201

    await asyncio.to_thread(command.downgrade, alembic_config(postgres_url), PREVIOUS)

    async with connected(postgres_url) as conn:
        queued = (
            await conn.execute(
                sa.text("SELECT done_at, last_error FROM outbox WHERE order_id = :id"),
                {"id": uuid.UUID(order["id"])},
            )
        ).all()
        rows = (await conn.execute(sa.text("SELECT count(*) FROM refunds"))).scalar_one()
    assert [(done is not None, "admin refund" in (error or "")) for done, error in queued] == [
        (True, True)
    ]
    assert rows == 0


async def test_queued_refund_of_a_free_order_closes_it_without_stripe(
    postgres_url: str, stripe_url: str, fake_stripe: FakeStripe
) -> None:
    """The previous release queued a refund for free out-of-stock orders too (no
    PaymentIntent): after the migration it closes the order without calling Stripe."""
    await upgrade(postgres_url, PREVIOUS)
    row = order_row(None, None, "cs_test_free") | {"allow_promotion_codes": True}
    async with connected(postgres_url) as conn:
        await conn.execute(orders.insert().values(row))
        await conn.execute(
            sa.text(
                "UPDATE orders SET status = 'refund_pending', cancel_reason = 'out_of_stock', "
                "amount_paid = 0"
            )
        )
        await conn.execute(
            outbox.insert().values(
                kind="refund",
                order_id=row["id"],
                payload={"reason": "out_of_stock"},
                idempotency_key=f"refund-remaining:{row['id']}:out_of_stock",
                attempts=0,
            )
        )
    await upgrade(postgres_url)
    async with shop_on(postgres_url, stripe_url, fake_stripe) as shop:
        await shop.drain_outbox()
        order = await shop.order(str(row["id"]))
        async with connected(postgres_url) as conn:
            last_error = (
                await conn.execute(sa.text("SELECT max(last_error) FROM outbox"))
            ).scalar_one()
    assert last_error is None
    assert (order["status"], order["review_reason"], order["amount_refunded"]) == (
        "refunded",
        None,
        0,
    )
    assert [r["status"] for r in order["refunds"]] == ["canceled"]
    assert fake_stripe.refunds() == []


async def test_a_charge_found_refunded_elsewhere_is_fetched_after_the_migration(
    postgres_url: str, stripe_url: str, fake_stripe: FakeStripe
) -> None:
    """The previous release recorded a charge refunded in the Dashboard as one row holding
    the charge's total, `already_refunded`, no refund id. After the migration that row gave
    nothing (canceled) and the Dashboard's refund is fetched and recorded: counted once."""
    await upgrade(postgres_url)
    async with shop_on(postgres_url, stripe_url, fake_stripe) as shop:
        _, second = await shop.oversold()
        order_id = uuid.UUID(second["order_id"])
        payment_id = (await shop.order(str(order_id)))["provider_payment_id"]
        [dashboard] = [fake_stripe.refund_in_dashboard(payment_id)]
        await asyncio.to_thread(command.downgrade, alembic_config(postgres_url), PREVIOUS)
        async with connected(postgres_url) as conn:  # as the previous release left it
            await conn.execute(sa.text("DELETE FROM refunds"))
            await conn.execute(
                sa.text(
                    "INSERT INTO refunds (id, order_id, amount, currency, reason, status)"
                    " VALUES (:id, :order, 2500, 'usd', 'out_of_stock', 'already_refunded')"
                ),
                {"id": uuid.uuid4(), "order": order_id},
            )
            await conn.execute(
                sa.text("UPDATE outbox SET done_at = now(), idempotency_key = 'old'")
            )
            await conn.execute(
                sa.text("UPDATE orders SET status = 'refunded' WHERE id = :o"), {"o": order_id}
            )

        await upgrade(postgres_url)
        await shop.drain_outbox()

        order = await shop.order(str(order_id))
    assert order["status"] == "refunded"
    assert sorted(
        (r["amount"], r["status"], r["provider_refund_id"] or "") for r in order["refunds"]
    ) == [(2500, "canceled", ""), (2500, "succeeded", dashboard["id"])]
    assert (order["amount_refunded"], order["checks"]["ok"]) == (2500, True)
