"""The sandbox's demo shop: its endpoint registered once, its receiver verifying each
delivery with the secret the shop got, and keeping what arrived for /sandbox/events.

Deliveries are POSTed here as the service's sender makes them (Standard Webhooks
headers from `payments.merchant_events.signing`); the sender itself is tested elsewhere.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from payments.app import create_app
from payments.demo_shop.inbox import Inbox, Received
from payments.demo_shop.registration import DESCRIPTION, RECEIVER_PATH, DemoShop
from payments.merchant_events import render, signing
from payments.models import MerchantEvent, WebhookEndpoint
from payments.timestamps import FORMAT
from tests.conftest import Shop, make_settings, truncate_all
from tests.support.demo_shop import order_event, signed

LOCAL = "http://127.0.0.1:8000"
SANDBOX = {"sandbox": True, "sandbox_port": 0, "seed_demo_catalog": True, "public_url": LOCAL}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(SANDBOX)


@pytest.fixture
async def service(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The service's own HTTP interface (in this package `client` is the Stripe SDK's)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as http:
        yield http


@pytest.fixture
def demo_shop(app: FastAPI) -> DemoShop:
    # The sandbox Stripe would deliver its own webhooks to LOCAL, which nobody serves here.
    app.state.sandbox.stripe.configure_delivery(None, None)
    shop: DemoShop = app.state.demo_shop
    return shop


async def endpoint_rows(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await db.fetch("SELECT id, url, secret, description FROM webhook_endpoints"))


async def post(http: httpx.AsyncClient, body: str, headers: dict[str, str]) -> httpx.Response:
    return await http.post(RECEIVER_PATH, content=body, headers=headers)


async def test_delivery_signed_with_the_shops_secret_is_kept_verified(
    service, demo_shop, db
) -> None:
    """204, and the shop keeps the event's id, type, order and status, marked verified."""
    [endpoint] = await endpoint_rows(db)
    body = order_event()
    headers = signed(body, endpoint["secret"])

    answered = await post(service, body, headers)

    assert answered.status_code == 204, answered.text
    [received] = demo_shop.inbox.newest_first()
    event = json.loads(body)
    assert received.verified is True
    assert received.webhook_id == event["id"] == headers["webhook-id"]
    assert received.type == "order.paid"
    assert received.order_id == event["data"]["id"]
    assert received.status == "paid"


async def test_delivery_with_a_wrong_signature_is_kept_unverified_and_refused(
    service, demo_shop, db
) -> None:
    """Signed with another secret: 400 invalid_webhook, and kept, marked unverified."""
    body = order_event()

    answered = await post(service, body, signed(body, signing.new_secret()))

    assert answered.status_code == 400
    assert answered.json()["error"]["code"] == "invalid_webhook"
    [received] = demo_shop.inbox.newest_first()
    assert received.verified is False
    assert received.type == "order.paid"


async def test_altered_body_does_not_verify(service, demo_shop, db) -> None:
    """The right secret over another body (a status changed on the way) is refused."""
    [endpoint] = await endpoint_rows(db)
    body = order_event(status="failed")
    headers = signed(body, endpoint["secret"])

    answered = await post(service, body.replace('"failed"', '"paid"'), headers)

    assert answered.status_code == 400
    assert [r.verified for r in demo_shop.inbox.newest_first()] == [False]


async def test_stale_signature_does_not_verify(service, demo_shop, db) -> None:
    """A correct signature made ten minutes ago is a replay: refused (five minutes' tolerance)."""
    [endpoint] = await endpoint_rows(db)
    body = order_event()
    headers = signed(body, endpoint["secret"], at=datetime.now(UTC) - timedelta(minutes=10))

    answered = await post(service, body, headers)

    assert answered.status_code == 400
    assert [r.verified for r in demo_shop.inbox.newest_first()] == [False]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{}", {}),
        (b"not json", {"webhook-id": "evt_1", "webhook-timestamp": "1", "webhook-signature": "x"}),
        (b"\xff\xfe", {"webhook-id": "e", "webhook-timestamp": "now", "webhook-signature": "v1"}),
        (b"[1]", {"webhook-id": "e", "webhook-timestamp": "1e400", "webhook-signature": "v1,@@"}),
        (b'{"type": 7, "data": []}', {"webhook-id": "e" * 500, "webhook-signature": "v1,a,b"}),
    ],
)
async def test_malformed_delivery_is_a_400_never_a_500(service, demo_shop, body, headers) -> None:
    """Missing, garbled or oversized headers and bodies are unverified deliveries, not crashes."""
    now = str(int(datetime.now(UTC).timestamp()))
    headers = {"webhook-timestamp": now, **headers}

    answered = await service.post(RECEIVER_PATH, content=body, headers=headers)

    assert answered.status_code == 400, answered.text
    [received] = demo_shop.inbox.newest_first()
    assert received.verified is False
    assert received.webhook_id is None or len(received.webhook_id) <= 100


async def test_previous_secret_still_verifies_after_a_rotation(
    service, demo_shop, db, admin_headers
) -> None:
    """The shop holds the secret it had; for the overlap after a rotation that still verifies,
    and so does the new one, read from the endpoint at once."""
    [endpoint] = await endpoint_rows(db)
    rotated = await service.post(
        f"/admin/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=admin_headers
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    old, new = order_event(), order_event()

    answers = [
        await post(service, old, signed(old, endpoint["secret"])),
        await post(service, new, signed(new, new_secret)),
    ]

    assert [a.status_code for a in answers] == [204, 204]
    assert [r.verified for r in demo_shop.inbox.newest_first()] == [True, True]


async def test_shop_keeps_the_newest_deliveries_first(service, demo_shop, db) -> None:
    """Two orders' events: newest first, each with its own order id."""
    [endpoint] = await endpoint_rows(db)
    first, second = order_event(), order_event("order.refunded", status="refunded")

    for body in (first, second):
        assert (await post(service, body, signed(body, endpoint["secret"]))).status_code == 204

    received = demo_shop.inbox.newest_first()
    assert [r.order_id for r in received] == [
        json.loads(second)["data"]["id"],
        json.loads(first)["data"]["id"],
    ]
    assert [r.status for r in received] == ["refunded", "paid"]


def test_inbox_keeps_only_the_newest() -> None:
    """Bounded: past its size the oldest delivery goes."""
    inbox = Inbox(keep=2)
    for n in range(3):
        inbox.add(Received(datetime.now(UTC), f"evt_{n}", "order.paid", None, None, True))

    assert [r.webhook_id for r in inbox.newest_first()] == ["evt_2", "evt_1"]


async def test_an_order_paid_in_the_sandbox_reaches_the_shop_verified(
    service, demo_shop, app, admin_headers
) -> None:
    """A real payment's order.paid event, delivered as the sender sends it, verifies and
    names the order and its status."""
    shop = Shop(service, app.state.sandbox.stripe, admin_headers, app)
    await shop.paid()  # a bystander's order first, so the right one must be picked
    order = await shop.paid()
    async with app.state.database.reading() as session:
        event = (
            await session.execute(
                select(MerchantEvent).where(
                    MerchantEvent.type == "order.paid",
                    MerchantEvent.order_id == uuid.UUID(order["id"]),
                )
            )
        ).scalar_one()
        secret = (
            await session.execute(
                select(WebhookEndpoint.secret).where(WebhookEndpoint.description == DESCRIPTION)
            )
        ).scalar_one()
    data = event.data or render.order_data_from_snapshot(event.snapshot or {})
    body = (
        f'{{"id": "{event.id}", "type": "{event.type}", '
        f'"created_at": "{event.created_at.strftime(FORMAT)}", "data": {data}}}'
    )

    answered = await post(service, body, signed(body, secret))

    assert answered.status_code == 204, answered.text
    [received] = demo_shop.inbox.newest_first()
    assert (received.type, received.order_id, received.status) == (
        "order.paid",
        order["id"],
        "paid",
    )
    assert received.verified is True


@asynccontextmanager
async def started(database_url: str, stripe_url: str, **overrides: Any) -> AsyncIterator[FastAPI]:
    """One start of the service, as a restart sees the database the last one left."""
    application = create_app(make_settings(database_url, stripe_url, **overrides))
    async with application.router.lifespan_context(application):
        yield application


async def test_registration_happens_once_across_restarts(database_url, stripe_url, db) -> None:
    """The first start registers the demo shop; later starts keep that endpoint and secret."""
    await truncate_all(database_url)
    shops = []
    for _ in range(3):
        async with started(database_url, stripe_url, **SANDBOX) as application:
            shops.append(application.state.demo_shop.endpoint_id)

    [endpoint] = await endpoint_rows(db)
    assert shops == [endpoint["id"]] * 3
    assert endpoint["description"] == DESCRIPTION
    assert endpoint["url"] == f"{LOCAL}{RECEIVER_PATH}"


async def test_restart_on_another_address_moves_the_endpoint(database_url, stripe_url, db) -> None:
    """Started again on another port, the same endpoint (same secret) gets the new URL."""
    await truncate_all(database_url)
    async with started(database_url, stripe_url, **SANDBOX):
        [before] = await endpoint_rows(db)
    moved = {**SANDBOX, "public_url": "http://127.0.0.1:8001"}
    async with started(database_url, stripe_url, **moved):
        [after] = await endpoint_rows(db)

    assert after["id"] == before["id"]
    assert after["secret"] == before["secret"]
    assert after["url"] == f"http://127.0.0.1:8001{RECEIVER_PATH}"


async def test_no_registration_without_the_demo_catalog(database_url, stripe_url, db) -> None:
    """SEED_DEMO_CATALOG off: no endpoint, and the shop says why it gets nothing."""
    await truncate_all(database_url)
    async with started(
        database_url, stripe_url, **{**SANDBOX, "seed_demo_catalog": False}
    ) as application:
        shop = application.state.demo_shop

    assert await endpoint_rows(db) == []
    assert shop.endpoint_id is None
    assert "SEED_DEMO_CATALOG" in shop.not_registered


async def test_no_registration_outside_sandbox_mode(database_url, stripe_url, db) -> None:
    """With a real Stripe key and the demo catalog on, no endpoint and no receiver."""
    await truncate_all(database_url)
    async with started(database_url, stripe_url, seed_demo_catalog=True) as application:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://payments.test"
        ) as http:
            body = order_event()
            answered = await post(http, body, signed(body, signing.new_secret()))
        products = await db.fetchval("SELECT count(*) FROM products")

    assert products == 4  # the catalog was seeded: only the shop's registration is missing
    assert await endpoint_rows(db) == []
    assert answered.status_code == 404
    assert answered.json()["error"]["code"] == "not_found"


async def test_address_that_cannot_be_an_endpoint_leaves_the_shop_unregistered(
    database_url, stripe_url, db
) -> None:
    """PUBLIC_URL over http on a public host: the sandbox starts, the shop says why not."""
    await truncate_all(database_url)
    public = {**SANDBOX, "public_url": "http://shop.example.com"}
    async with started(database_url, stripe_url, **public) as application:
        shop = application.state.demo_shop

    assert await endpoint_rows(db) == []
    assert shop.endpoint_id is None
    assert "http://shop.example.com/sandbox/shop/webhooks" in shop.not_registered
