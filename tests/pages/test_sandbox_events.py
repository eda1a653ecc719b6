"""/sandbox/events: what the sandbox's demo shop received, server-rendered, nothing secret."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from payments.demo_shop.registration import RECEIVER_PATH
from payments.merchant_events import signing
from tests.support.demo_shop import order_event, signed

SANDBOX = {
    "sandbox": True,
    "sandbox_port": 0,
    "seed_demo_catalog": True,
    "public_url": "http://127.0.0.1:8000",
}
BUYER_PAGES = ["/", "/checkout/success?session_id=cs_1", "/checkout/cancel"]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(SANDBOX)


@pytest.fixture
async def secret(app: FastAPI, db: asyncpg.Connection) -> str:
    # The sandbox Stripe would deliver its own webhooks to PUBLIC_URL, which nobody serves.
    app.state.sandbox.stripe.configure_delivery(None, None)
    value: str = await db.fetchval("SELECT secret FROM webhook_endpoints")
    return value


async def events_page(client: httpx.AsyncClient) -> str:
    response = await client.get("/sandbox/events")
    assert response.status_code == 200, response.text
    return response.text


async def test_empty_page_says_to_buy_something(client, secret) -> None:
    """Before any event: how to make one, with a link to the storefront."""
    html = await events_page(client)

    assert '<p id="events-empty" class="note">Nothing yet. <a href="/">Buy something' in html
    assert "4242 4242 4242 4242" in html
    assert 'id="events"' not in html
    assert "{{" not in html


async def test_page_lists_each_delivery_newest_first_with_its_verdict(client, secret) -> None:
    """Time, type, webhook-id, order, status and whether the signature verified, per event."""
    paid = order_event()
    refunded = order_event("order.refunded", status="refunded")
    forged = order_event("order.paid")
    await client.post(RECEIVER_PATH, content=paid, headers=signed(paid, secret))
    await client.post(RECEIVER_PATH, content=refunded, headers=signed(refunded, secret))
    await client.post(RECEIVER_PATH, content=forged, headers=signed(forged, signing.new_secret()))

    html = await events_page(client)

    items = html.split('<li class="event"')[1:]
    expected = [(forged, "no"), (refunded, "yes"), (paid, "yes")]
    assert len(items) == len(expected)
    for item, (body, verified) in zip(items, expected, strict=True):
        event = json.loads(body)
        assert f'data-verified="{verified}"' in item
        assert f"<h2><code>{event['type']}</code></h2>" in item
        assert f'<dd class="webhook-id"><code>{event["id"]}</code></dd>' in item
        assert f'<dd class="order-id"><code>{event["data"]["id"]}</code></dd>' in item
        assert f'<dd class="status-value">{event["data"]["status"]}</dd>' in item
        assert '<time datetime="' in item
    assert '<dd class="verified verified-yes">Yes</dd>' in items[1]
    assert '<dd class="verified verified-no">No: ' in items[0]


async def test_page_shows_no_secret_or_signature(client, secret) -> None:
    """The shop's secret and the delivery's signature never reach the page."""
    body = order_event()
    headers = signed(body, secret)
    await client.post(RECEIVER_PATH, content=body, headers=headers)

    html = await events_page(client)

    assert secret not in html
    assert secret.removeprefix("whsec_") not in html
    assert headers["webhook-signature"].split(",", 1)[1] not in html


async def test_what_a_request_carried_is_escaped(client, secret) -> None:
    """Markup in an unverified delivery's headers or body is shown as text, never run."""
    body = order_event("<script>alert(1)</script>", status="<img src=x onerror=alert(2)>")
    headers = {**signed(body, signing.new_secret()), "webhook-id": "{{ events }}<b>id</b>"}
    await client.post(RECEIVER_PATH, content=body, headers=headers)

    html = await events_page(client)

    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ events }}&lt;b&gt;id&lt;/b&gt;" in html


async def test_page_is_uncached_html_under_the_pages_policy(client, secret) -> None:
    """The same headers as the buyer's pages: no cache, no inline script or style."""
    response = await client.get("/sandbox/events")

    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert '<div id="sandbox-banner" role="status">' in response.text


@pytest.mark.parametrize("path", BUYER_PAGES)
async def test_sandbox_pages_link_to_the_events(client, secret, path) -> None:
    """In the sandbox every buyer page ends with a link to what the shop received."""
    response = await client.get(path)

    assert '<footer class="sandbox-links">' in response.text
    assert '<a href="/sandbox/events">' in response.text


@pytest.mark.parametrize("settings_overrides", [{**SANDBOX, "seed_demo_catalog": False}])
async def test_page_says_why_nothing_comes_without_the_demo_catalog(client) -> None:
    """No demo catalog, no registered shop: the page says so instead of waiting forever."""
    html = await events_page(client)

    assert "not registered" in html
    assert "SEED_DEMO_CATALOG" in html


@pytest.mark.parametrize("settings_overrides", [{}])
async def test_no_events_page_or_links_outside_sandbox_mode(client) -> None:
    """A service with a real Stripe account has neither the page nor links to it."""
    response = await client.get("/sandbox/events")
    storefront = await client.get("/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "/sandbox/events" not in storefront.text
