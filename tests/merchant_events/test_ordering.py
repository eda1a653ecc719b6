"""Receivers order events by the data's `updated_at`: it must grow with every change."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from sqlalchemy import text

from payments.models import ReviewReason
from payments.orders import repository
from tests.conftest import Shop


async def test_updated_at_grows_even_for_a_transaction_that_began_first(
    shop: Shop, db, app
) -> None:
    """A transaction that began before another one changed the order, and changes it after
    that one committed, still writes a later `updated_at` than the change it followed."""
    await shop.client.post(
        "/admin/webhook-endpoints",
        json={"url": "https://shop.example.com/hooks", "events": ["*"]},
        headers=shop.admin,
    )
    order = await shop.paid()
    async with app.state.database.transaction() as early:
        began = (await early.execute(text("SELECT now()"))).scalar_one()
        refunded = await shop.refund(order["id"], amount=500)  # commits meanwhile
        assert refunded.status_code == 201
        await repository.flag_for_review(early, uuid.UUID(order["id"]), ReviewReason.REFUND_FAILED)
    told = await db.fetchval(
        "SELECT data FROM merchant_events WHERE type = 'order.partially_refunded'"
    )
    after_refund = datetime.fromisoformat(json.loads(told)["updated_at"])
    final = datetime.fromisoformat((await shop.order(order["id"]))["updated_at"])
    assert began < after_refund < final
