"""Browser tests: Debian's Chromium driven by Playwright against the real service.

The service runs as `payments serve` in sandbox mode (its own Stripe-compatible
server, webhooks delivered over HTTP) on a fresh Postgres database, exactly as
a newcomer would run it. Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from payments.config import SANDBOX_ADMIN_KEY, SANDBOX_STRIPE_KEY
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.processes import bare_env, free_port, running_service

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FINAL = 30_000  # ms: long enough for delivery retries and the success page's backoff


@dataclass
class SandboxService:
    """The running service, reached the way a browser and an operator would."""

    url: str
    stripe_url: str

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {SANDBOX_ADMIN_KEY}"}

    async def get(self, path: str, **params: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            response = await http.get(path, params=params, headers=self.admin)
            response.raise_for_status()
            return response.json()

    async def product(self, name: str) -> dict[str, Any]:
        products = (await self.get("/products"))["data"]
        return next(p for p in products if p["name"] == name)

    async def orders(self) -> list[dict[str, Any]]:
        return list((await self.get("/admin/orders"))["data"])

    async def deliveries(self) -> list[dict[str, Any]]:
        return list(await self.stripe("GET", "/_sandbox/deliveries"))

    async def stripe(self, method: str, path: str, **body: Any) -> Any:
        """The sandbox Stripe's API and controls, with its test key, as a script uses them."""
        async with httpx.AsyncClient(base_url=self.stripe_url, timeout=10) as http:
            response = await http.request(
                method,
                path,
                json=body or None,
                headers={"Authorization": f"Bearer {SANDBOX_STRIPE_KEY}"},
            )
            response.raise_for_status()
            return response.json()

    async def start_checkout(self, product: str, quantity: int = 1) -> dict[str, Any]:
        """What the storefront's Buy does, from another buyer's machine."""
        product_id = (await self.product(product))["id"]
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            response = await http.post(
                "/checkout/sessions",
                json={"items": [{"product_id": product_id, "quantity": quantity}]},
            )
            response.raise_for_status()
            return dict(response.json())

    async def refund(self, order_id: str, amount: int | None = None) -> dict[str, Any]:
        """The shop gives back `amount` (default: all that remains) through the admin API."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            response = await http.post(
                f"/admin/orders/{order_id}/refunds",
                json={} if amount is None else {"amount": amount},
                headers=self.admin,
            )
            response.raise_for_status()
            return dict(response.json())

    async def demo_shop_secret(self) -> str:
        """The demo shop's signing secret, as its owner gets one: by rotating it (admin API).
        For tests that deliver to the shop themselves."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10, headers=self.admin) as http:
            listed = (await http.get("/admin/webhook-endpoints")).raise_for_status().json()
            [shop] = [e for e in listed["data"] if e["description"] == "sandbox demo shop"]
            rotated = await http.post(f"/admin/webhook-endpoints/{shop['id']}/rotate-secret")
            secret: str = rotated.raise_for_status().json()["secret"]
            return secret

    async def deliver_to_demo_shop(self, body: str, headers: dict[str, str]) -> int:
        """POST a delivery to the demo shop's receiver, as the service's sender does."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            response = await http.post("/sandbox/shop/webhooks", content=body, headers=headers)
            return response.status_code

    async def buy(self, product: str) -> dict[str, Any]:
        """Another buyer pays for one unit by card and comes back: the order is paid."""
        checkout = await self.start_checkout(product)
        await self.stripe(
            "POST", f"/_sandbox/sessions/{checkout['session_id']}/complete", outcome="paid"
        )
        verified = await self.get("/checkout/verify", session_id=checkout["session_id"])
        assert verified["status"] == "paid"
        return checkout


@pytest.fixture
def sandbox_service(
    pg_server: PostgresServer, request: pytest.FixtureRequest
) -> Iterator[SandboxService]:
    """`payments serve` with no Stripe key (sandbox mode) on a fresh Postgres database."""
    name = f"payments_browser_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(pg_server, name))
    stripe_port = free_port()
    env = bare_env(
        SANDBOX="true",  # on Postgres the sandbox must be asked for
        DATABASE_URL=pg_server.database_url(name),
        AUTO_MIGRATE="true",
        SEED_DEMO_CATALOG="true",
        SANDBOX_PORT=str(stripe_port),
        SANDBOX_ASYNC_SETTLE_SECONDS="3",
        OUTBOX_POLL_SECONDS="0.5",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"service-{request.node.name}.log"
    try:
        with running_service(env, cwd=ARTIFACTS, log_path=log_path) as url:
            yield SandboxService(url=url, stripe_url=f"http://127.0.0.1:{stripe_port}")
    finally:
        asyncio.run(drop_database(pg_server, name))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def screenshot(page: Page, name: str) -> Path:
    """Keep what the buyer saw, as a CI artifact."""
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)  # Playwright makes the folder
    return path


async def open_checkout(
    browser: Browser | BrowserContext, service: SandboxService, product: str
) -> Page:
    """Storefront -> Buy -> the hosted checkout page."""
    page = await browser.new_page()
    await page.goto(service.url)
    await page.locator("li.product", has_text=product).locator("[data-testid=buy]").click()
    await page.wait_for_selector("#pay")
    return page


async def set_chaos(page: Page, **knobs: Any) -> None:
    """Fill the hosted checkout page's chaos panel for this session."""
    await page.locator("#chaos > summary").click()
    for name, value in knobs.items():
        field = page.locator(f"#chaos-{name.replace('_', '-')}")
        if value is True:
            await field.check()
        else:
            await field.fill(str(value))


async def only_order(service: SandboxService) -> dict[str, Any]:
    [order] = await service.orders()
    return await service.get(f"/admin/orders/{order['id']}")


async def accessibility_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.x A and AA rules on the page as it is now, one line per violation."""
    results = await Axe().run(
        page,
        options={
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            "resultTypes": ["violations"],
        },
    )
    return [
        f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes']]})"
        for v in results.response["violations"]
    ]
