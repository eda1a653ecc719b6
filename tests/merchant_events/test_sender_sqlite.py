"""The sender on SQLite (the sandbox's database): sent, retried on its clock, retried by hand."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from payments.app import create_app
from payments.merchant_events import signing
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import ADMIN_KEY, Shop, make_settings


@pytest.fixture
async def sqlite_shop(
    tmp_path: Path, stripe_url: str, fake_stripe: FakeStripe
) -> AsyncIterator[Shop]:
    """The service on a fresh SQLite file (migrated on start, as in the sandbox)."""
    fake_stripe.reset()
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}",
        stripe_url,
        merchant_webhooks_allow_private=True,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Shop(client, fake_stripe, {"Authorization": f"Bearer {ADMIN_KEY}"}, app)


def sql(shop: Shop, statement: str, *params: object) -> list[tuple]:
    """Run one statement on the shop's SQLite file, as another process would."""
    path = shop.app.state.settings.database_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute(statement, params).fetchall()


def add_endpoint(shop: Shop, url: str) -> str:
    secret = signing.new_secret()
    sql(
        shop,
        "INSERT INTO webhook_endpoints (id, url, events, secret) VALUES (?, ?, ?, ?)",
        uuid.uuid4().hex,
        url,
        json.dumps(["*"]),
        secret,
    )
    return secret


async def test_sent_retried_and_retried_by_hand_on_sqlite(sqlite_shop: Shop, receivers) -> None:
    """A 500 is retried later by the database's clock; dead, an admin retry sends it again."""
    receiver = await receivers()
    secret = add_endpoint(sqlite_shop, receiver.url)
    receiver.answer(500)
    await sqlite_shop.paid()
    sender = sqlite_shop.app.state.event_sender

    assert await sender.drain() == 1
    assert sql(
        sqlite_shop,
        "SELECT status, next_attempt_at > datetime('now', '+5 seconds') FROM event_deliveries",
    ) == [("failed", 1)]
    assert await sender.drain() == 0
    sql(sqlite_shop, "UPDATE event_deliveries SET next_attempt_at = datetime('now', '-1 seconds')")
    assert await sender.drain() == 1
    assert sql(sqlite_shop, "SELECT status, attempts FROM event_deliveries") == [("succeeded", 2)]

    (delivery_id,) = sql(sqlite_shop, "SELECT id FROM event_deliveries")[0]
    sql(sqlite_shop, "UPDATE event_deliveries SET status = 'dead', next_attempt_at = NULL")
    response = await sqlite_shop.client.post(
        f"/admin/webhook-deliveries/{uuid.UUID(delivery_id)}/retry", headers=sqlite_shop.admin
    )
    assert response.status_code == 202, response.text
    assert await sender.drain() == 1

    assert len(receiver.requests) == 3
    assert len({r.webhook_id for r in receiver.requests}) == 1
    for request in receiver.requests:
        Webhook(secret).verify(request.body, request.headers)
