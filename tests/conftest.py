"""Shared fixtures: a real Postgres database migrated with Alembic, the sandbox Stripe
server over real HTTP, and the service itself driven through its ASGI interface.

Postgres is required: when none can be found the run stops with a message
saying what to install, instead of skipping tests.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import stripe

from payments.app import create_app
from payments.config import Settings, load_settings
from payments.migrate import upgrade
from payments.models import Base
from payments.sandbox.stripe_server import FakeStripe, serve_in_thread
from tests.support.postgres import (
    PostgresNotFound,
    PostgresServer,
    create_database,
    drop_database,
    find_postgres,
)

ADMIN_KEY = "test-admin-key-0123456789"
WEBHOOK_SECRET = "whsec_test_platform_secret"
CONNECT_SECRET = "whsec_test_connect_secret"
STRIPE_KEY = "sk_test_payments_suite"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        with find_postgres() as server:
            yield server
    except PostgresNotFound as exc:
        pytest.exit(str(exc), returncode=3)


@pytest.fixture(scope="session")
def database_url(pg_server: PostgresServer) -> Iterator[str]:
    """One fresh database per run, built by the same migrations production runs."""
    name = f"payments_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(create_database(pg_server, name))
    url = pg_server.database_url(name)
    asyncio.run(upgrade(url))
    yield url
    asyncio.run(drop_database(pg_server, name))


@pytest.fixture(scope="session")
def fake_stripe() -> FakeStripe:
    return FakeStripe(webhook_secret=WEBHOOK_SECRET, connect_webhook_secret=CONNECT_SECRET)


@pytest.fixture(scope="session")
def stripe_url(fake_stripe: FakeStripe) -> Iterator[str]:
    with serve_in_thread(fake_stripe.app) as url:
        yield url


def make_settings(database_url: str, stripe_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "stripe_secret_key": STRIPE_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_connect_webhook_secret": CONNECT_SECRET,
        "stripe_api_base": stripe_url,
        "stripe_timeout_seconds": 5,
        # Tests decide per case whether the SDK retries; by default it does not.
        "stripe_max_network_retries": 0,
        "public_url": "http://shop.test",
        "admin_api_key": ADMIN_KEY,
        # Tests deliver the outbox explicitly (`outbox.drain()`), so nothing races them.
        "outbox_enabled": False,
        # The same for the shop's events (`event_sender.drain()`).
        "merchant_webhooks_enabled": False,
        "log_format": "console",
        "db_pool_size": 20,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the service's settings."""
    return {}


@pytest.fixture
async def app(
    database_url: str, stripe_url: str, fake_stripe: FakeStripe, settings_overrides: dict[str, Any]
) -> AsyncIterator[Any]:
    """The service, started and stopped like uvicorn would, on empty tables."""
    await truncate_all(database_url)
    fake_stripe.reset()
    application = create_app(make_settings(database_url, stripe_url, **settings_overrides))
    async with application.router.lifespan_context(application):
        yield application


async def truncate_all(database_url: str) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute(f"TRUNCATE {tables} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as c:
        yield c


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection for checking what the service committed."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    yield conn
    await conn.close()


class Shop:
    """Short helpers over the service's own API, so tests read as the flow they check."""

    def __init__(
        self, client: httpx.AsyncClient, fake: FakeStripe, admin_headers: dict[str, str], app: Any
    ) -> None:
        self.client = client
        self.fake = fake
        self.admin = admin_headers
        self.app = app

    async def seller(self, charge_type: str = "direct", fee_bps: int = 1000) -> dict[str, Any]:
        response = await self.client.post(
            "/admin/sellers",
            json={
                "name": f"Seller {charge_type}",
                "stripe_account_id": f"acct_{uuid.uuid4().hex[:16]}",
                "charge_type": charge_type,
                "fee_bps": fee_bps,
            },
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def product(
        self,
        *,
        unit_amount: int = 2500,
        stock: int | None = 10,
        seller: dict[str, Any] | None = None,
        currency: str = "usd",
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/admin/products",
            json={
                "name": "Concert ticket",
                "unit_amount": unit_amount,
                "currency": currency,
                "stock": stock,
                "seller_id": seller["id"] if seller else None,
            },
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def checkout(
        self, product: dict[str, Any], quantity: int = 1, **headers: str
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/checkout/sessions",
            json={"items": [{"product_id": product["id"], "quantity": quantity}]},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def cart(self, *lines: tuple[dict[str, Any], int]) -> dict[str, Any]:
        """Check out several products at once: `cart((product, quantity), ...)`."""
        response = await self.client.post(
            "/checkout/sessions",
            json={"items": [{"product_id": p["id"], "quantity": q} for p, q in lines]},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def deliver(self, event: dict[str, Any], **sign: Any) -> httpx.Response:
        """POST a signed event where Stripe would: Connect events to the Connect endpoint."""
        body, headers = self.fake.signed(event, **sign)
        path = "/webhooks/stripe/connect" if event.get("account") else "/webhooks/stripe"
        return await self.client.post(path, content=body, headers=headers)

    async def verify(self, session_id: str) -> httpx.Response:
        return await self.client.get("/checkout/verify", params={"session_id": session_id})

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/admin/orders/{order_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def stock(self, product: dict[str, Any]) -> int | None:
        response = await self.client.get(f"/admin/products/{product['id']}", headers=self.admin)
        assert response.status_code == 200, response.text
        stock: int | None = response.json()["stock"]
        return stock

    async def oversold(self, seller: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Two buyers paid 25.00 each for the last unit; the later order waits for its refund."""
        product = await self.product(stock=1, seller=seller)
        first, second = await self.checkout(product), await self.checkout(product)
        for checkout in (first, second):
            self.fake.complete_session(checkout["session_id"], outcome="paid")
            await self.deliver(self.fake.last_event("checkout.session.completed"))
        return first, second

    async def paid(
        self, seller: dict[str, Any] | None = None, *, unit_amount: int = 2500, quantity: int = 1
    ) -> dict[str, Any]:
        """A paid order (confirmed by its webhook), as the admin API shows it."""
        product = await self.product(unit_amount=unit_amount, seller=seller)
        checkout = await self.checkout(product, quantity=quantity)
        self.fake.complete_session(checkout["session_id"], outcome="paid")
        response = await self.deliver(self.fake.last_event("checkout.session.completed"))
        assert response.json()["outcome"] == "paid", response.text
        return await self.order(checkout["order_id"])

    async def refund(self, order_id: str, key: str | None = None, **body: Any) -> httpx.Response:
        """POST /admin/orders/{id}/refunds with `body`, and an Idempotency-Key if given."""
        headers = dict(self.admin)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            f"/admin/orders/{order_id}/refunds", json=body, headers=headers
        )

    async def drain_outbox(self) -> int:
        attempted: int = await self.app.state.outbox.drain()
        return attempted

    async def bystander(self) -> Bystander:
        """Another product and another buyer's open order for it, there to be left alone.

        A query that forgot its `id = ...` condition changes them; `state_of` shows it.
        """
        product = await self.product(unit_amount=1200, stock=BYSTANDER_STOCK)
        checkout = await self.checkout(product, quantity=2)
        return Bystander(product, checkout["order_id"], checkout["session_id"])

    async def state_of(self, bystander: Bystander) -> tuple[str, int | None]:
        """The bystander's order status and product stock; `UNTOUCHED` while left alone."""
        order = await self.order(bystander.order_id)
        return order["status"], await self.stock(bystander.product)


BYSTANDER_STOCK = 7
UNTOUCHED = ("pending", BYSTANDER_STOCK)


@dataclass(frozen=True)
class Bystander:
    product: dict[str, Any]
    order_id: str
    session_id: str


@pytest.fixture
async def dashboard(stripe_url: str) -> AsyncIterator[stripe.StripeClient]:
    """The real SDK on the sandbox, acting as a person in Stripe's Dashboard (refunds...)."""
    http = stripe.HTTPXClient(timeout=5)
    yield stripe.StripeClient(STRIPE_KEY, base_addresses={"api": stripe_url}, http_client=http)
    await http.close_async()


@pytest.fixture
def shop(
    client: httpx.AsyncClient, fake_stripe: FakeStripe, admin_headers: dict[str, str], app: Any
) -> Shop:
    return Shop(client, fake_stripe, admin_headers, app)


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float = 10.0
) -> None:
    """Wait for something another thread or task does; fails only if it never happens."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0.02)
