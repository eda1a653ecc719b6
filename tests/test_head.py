"""HEAD on every GET route answers as GET without a body; other paths keep their 405.

Checked on a real uvicorn server (what monitoring tools talk to) and, for the body
bytes the app itself sends, through the ASGI interface (uvicorn drops them anyway).
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from payments.app import create_app
from payments.merchant_events import signing
from payments.sandbox.server import serve_in_thread
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import ADMIN_KEY, Shop, make_settings, truncate_all

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
# The headers HEAD must share with GET (RFC 9110: the same as GET, without content).
SAME_HEADERS = ("content-type", "content-length", "cache-control", "etag", "allow")


@pytest.fixture
def live_url(database_url: str, stripe_url: str, fake_stripe: FakeStripe) -> Iterator[str]:
    asyncio.run(truncate_all(database_url))
    fake_stripe.reset()
    with serve_in_thread(create_app(make_settings(database_url, stripe_url)), lifespan=True) as url:
        yield url


# Pages of the sandbox's demo shop: 404 outside sandbox mode (tests/pages covers them).
SANDBOX_ONLY = {"/sandbox/events"}


async def a_delivery(database_url: str, order_id: str) -> str:
    """An event of the order on its way to an endpoint (written as the service would)."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        endpoint_id, delivery_id = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO webhook_endpoints (id, url, events, secret) VALUES ($1, $2, $3, $4)",
            endpoint_id,
            "https://shop.example.com/hooks",
            json.dumps(["*"]),
            signing.new_secret(),
        )
        await conn.execute(
            "INSERT INTO merchant_events (id, type, order_id, data) VALUES ($1, $2, $3, $4)",
            "evt_head",
            "order.expired",
            uuid.UUID(order_id),
            "{}",
        )
        await conn.execute(
            "INSERT INTO event_deliveries (id, event_id, endpoint_id, status)"
            " VALUES ($1, $2, $3, 'dead')",
            delivery_id,
            "evt_head",
            endpoint_id,
        )
    finally:
        await conn.close()
    return str(delivery_id)


def get_paths(http: httpx.Client, database_url: str) -> list[str]:
    """Every GET route of the app, its parameters filled with ids that exist."""
    product = http.post(
        "/admin/products",
        json={"name": "Ticket", "unit_amount": 100, "currency": "usd", "stock": None},
    ).json()
    checkout = http.post(
        "/checkout/sessions", json={"items": [{"product_id": product["id"], "quantity": 1}]}
    ).json()
    endpoint = http.post(
        "/admin/webhook-endpoints", json={"url": "https://shop.example.com/hooks", "events": ["*"]}
    ).json()
    values = {
        "product_id": product["id"],
        "order_id": checkout["order_id"],
        "endpoint_id": endpoint["id"],
        "delivery_id": asyncio.run(a_delivery(database_url, checkout["order_id"])),
    }
    files = {"/docs/assets/{name}": "swagger-ui.css", "/static/{name}": "shop.css"}
    paths = []
    for context in iter_route_contexts(create_app().routes):
        route = context.original_route
        if route.path in SANDBOX_ONLY:
            continue
        if isinstance(route, APIRoute) and "GET" in route.methods:
            paths.append(route.path.format(**values, name=files.get(route.path)))
        elif getattr(route, "path", None) == "/openapi.json":
            paths.append(route.path)
    paths[paths.index("/checkout/verify")] += f"?session_id={checkout['session_id']}"
    return paths


def answer(response: httpx.Response) -> tuple[int, list[str | None]]:
    return response.status_code, [response.headers.get(name) for name in SAME_HEADERS]


def test_head_answers_every_get_route_like_get(live_url: str, database_url: str) -> None:
    """Probes, pages, docs and API reads: HEAD has GET's status and headers, and no body."""
    with httpx.Client(base_url=live_url, headers=ADMIN, timeout=10) as http:
        paths = get_paths(http, database_url)
        differ = []
        for path in paths:
            get, head = http.get(path), http.head(path)
            if get.status_code != 200 or answer(head) != answer(get) or head.content:
                differ.append((path, answer(get), answer(head), head.content[:100]))

    assert {"/healthz", "/readyz", "/", "/products", "/docs", "/openapi.json"} <= set(paths)
    assert differ == []


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_head_on_a_probe_sends_no_body_on_the_wire(live_url: str, path: str) -> None:
    """What a monitor reads from the socket: 200, headers, and nothing after them."""
    url = urlsplit(live_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as conn:
        conn.sendall(f"HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := conn.recv(65536):
            received += chunk

    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert rest == b""


async def test_the_app_itself_sends_no_body_for_head(shop: Shop) -> None:
    """Under uvicorn the body would be dropped anyway; the app does not even send it."""
    response = await shop.client.head("/products")

    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("HEAD", "/checkout/sessions", "POST"), ("DELETE", "/healthz", "GET, HEAD")],
)
async def test_head_is_in_allow_exactly_where_get_is(shop: Shop, method, path, allow) -> None:
    """A path without GET keeps its 405 for HEAD; a GET path lists HEAD in its Allow."""
    response = await shop.client.request(method, path)

    assert response.status_code == 405
    assert response.headers["allow"] == allow
