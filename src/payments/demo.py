"""`payments demo`: one whole purchase in the sandbox, told step by step.

It starts the service in sandbox mode on a temporary database, buys a product
the way a browser would (storefront API, hosted checkout page, success page),
lets the sandbox deliver its webhooks (twice, to prove duplicates are harmless),
and succeeds only if the order ended paid exactly once and the stock moved
exactly once.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx

from payments.app import create_app
from payments.config import SANDBOX_ADMIN_KEY, SANDBOX_STRIPE_KEY, load_settings
from payments.sandbox.chaos import Chaos
from payments.sandbox.server import bind, serve_in_thread

PRODUCT = "Payments T-shirt"
TEST_CARD = "4242424242424242"


class DemoFailed(Exception):
    pass


class Story:
    """Prints each step as it happens, and keeps count of what went wrong."""

    def __init__(self) -> None:
        self.failures = 0
        self.number = 0

    def step(self, text: str) -> None:
        self.number += 1
        print(f"{self.number:>2}. {text}", flush=True)

    def check(self, ok: bool, text: str) -> None:
        print(f"    {'ok  ' if ok else 'FAIL'} {text}", flush=True)
        self.failures += not ok


async def run_demo(database_url: str | None = None) -> bool:
    """Run the purchase; True only if every check held."""
    with tempfile.TemporaryDirectory(prefix="payments-demo-") as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
        story = Story()
        try:
            await _purchase(url, story)
        except Exception as exc:  # whatever broke, the demo reports it and fails
            story.check(False, f"stopped: {type(exc).__name__}: {exc}")
        print("\nResult:", "PASS" if story.failures == 0 else f"FAIL ({story.failures})")
        return story.failures == 0


async def _purchase(database_url: str, story: Story) -> None:
    sock = bind()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = load_settings(
        isolated=True,  # the machine's environment and .env must not steer the demo
        database_url=database_url,
        auto_migrate=True,
        sandbox=True,
        stripe_secret_key=SANDBOX_STRIPE_KEY,
        stripe_webhook_secret=f"whsec_{secrets.token_hex(24)}",
        stripe_connect_webhook_secret=f"whsec_{secrets.token_hex(24)}",
        admin_api_key=SANDBOX_ADMIN_KEY,
        public_url=base,
        sandbox_port=0,
        seed_demo_catalog=True,
        outbox_poll_seconds=0.5,
        log_level="ERROR",
    )
    app = create_app(settings)
    story.step(f"Starting the service in sandbox mode at {base} ({_describe(database_url)})")
    with serve_in_thread(app, sock=sock, lifespan=True):
        sandbox = app.state.sandbox
        # Stripe delivers at least once: ask the sandbox to send every event twice.
        sandbox.stripe.set_chaos(Chaos(duplicate=True))
        admin = {"Authorization": f"Bearer {SANDBOX_ADMIN_KEY}"}
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            await _buy(http, admin, sandbox, story)


async def _buy(http: httpx.AsyncClient, admin: dict[str, str], sandbox: Any, story: Story) -> None:
    products = (await http.get("/products")).raise_for_status().json()["data"]
    product = next((p for p in products if p["name"] == PRODUCT), None)
    if product is None:
        raise DemoFailed(f"the demo catalog has no {PRODUCT!r}")
    stock_before = product["stock"]
    story.step(
        f"Storefront lists {len(products)} products; buying 1 x {PRODUCT} ({stock_before} left)"
    )

    answer = (
        (
            await http.post(
                "/checkout/sessions",
                json={"items": [{"product_id": product["id"], "quantity": 1}]},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
        )
        .raise_for_status()
        .json()
    )
    order_id, session_id = answer["order_id"], answer["session_id"]
    story.step(f"Checkout started: order {order_id}, session {session_id}")

    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(answer["checkout_url"])
        story.check(page.status_code == 200, "the hosted checkout page opens")
        paid = await browser.post(
            answer["checkout_url"], data={"action": "pay", "card_number": TEST_CARD}
        )
    success_url = paid.headers.get("location", "")
    story.step(f"Buyer pays with {TEST_CARD[:4]} {TEST_CARD[4:8]} ... and is sent back")
    story.check(
        paid.status_code == 303 and session_id in success_url, f"redirected to {success_url}"
    )

    verify = (
        (await http.get("/checkout/verify", params={"session_id": session_id}))
        .raise_for_status()
        .json()
    )
    story.step(f"Success page asks GET /checkout/verify: status {verify['status']}")
    story.check(verify["paid"] is True, "the frontend's verify confirms the payment")

    delivered = await asyncio.to_thread(sandbox.stripe.wait_for_deliveries, 30.0)
    attempts = [a for a in sandbox.stripe.deliveries if a.type == "checkout.session.completed"]
    story.step(
        f"Sandbox delivered checkout.session.completed {len(attempts)} times: "
        + ", ".join(str(a.status) for a in attempts)
    )
    story.check(delivered and all(a.delivered for a in attempts), "every webhook was accepted")

    order = (await http.get(f"/admin/orders/{order_id}", headers=admin)).raise_for_status().json()
    stock_after = (
        (await http.get(f"/admin/products/{product['id']}", headers=admin))
        .raise_for_status()
        .json()["stock"]
    )
    story.step(
        f"Order is {order['status']} (confirmed via {order['confirmed_via']}), amount paid "
        f"{order['amount_paid']} {order['currency']}; stock {stock_before} -> {stock_after}"
    )
    story.check(order["status"] == "paid", "the order ended paid")
    story.check(stock_after == stock_before - 1, "the stock moved exactly once")
    story.check(order["refunds"] == [], "nothing was refunded")

    story.step("Buyer reloads the success page twice more")
    for _ in range(2):
        again = await http.get("/checkout/verify", params={"session_id": session_id})
        story.check(again.json().get("paid") is True, "still paid")
    stock_now = (await http.get(f"/admin/products/{product['id']}", headers=admin)).json()["stock"]
    story.check(stock_now == stock_after, "the stock did not move again")


def _describe(database_url: str) -> str:
    return "temporary SQLite file" if database_url.startswith("sqlite") else "the given database"
