"""A buyer in a real browser, through Stripe's good and bad days (sandbox chaos)."""

from __future__ import annotations

import asyncio

from playwright.async_api import Browser, Route, expect

from tests.browser.conftest import (
    FINAL,
    SandboxService,
    only_order,
    open_checkout,
    screenshot,
    set_chaos,
)
from tests.conftest import wait_until


async def test_happy_path(browser: Browser, sandbox_service: SandboxService) -> None:
    """Storefront, pay with 4242, success page says paid; stock moves once."""
    before = (await sandbox_service.product("Payments T-shirt"))["stock"]
    page = await open_checkout(browser, sandbox_service, "Payments T-shirt")
    await expect(page.locator("#sandbox-banner")).to_be_visible()

    await page.click("#pay")

    await expect(page.locator("#status")).to_have_attribute("data-status", "paid", timeout=FINAL)
    await expect(page.locator("#sandbox-banner")).to_be_visible()
    await screenshot(page, "happy-path")
    order = await only_order(sandbox_service)
    assert order["status"] == "paid"
    assert (await sandbox_service.product("Payments T-shirt"))["stock"] == before - 1


async def test_buy_button_retries_with_the_same_idempotency_key(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """A 503 on the first try: the storefront retries with the same key, one order results."""
    page = await browser.new_page()
    keys: list[str] = []

    async def flaky_once(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            await route.fulfill(status=503, json={"error": {"code": "service_unavailable"}})
        else:
            await route.continue_()

    await page.route("**/checkout/sessions", flaky_once)
    await page.goto(sandbox_service.url)
    await (
        page.locator("li.product", has_text="Payments T-shirt").locator("[data-testid=buy]").click()
    )
    await page.wait_for_selector("#pay")

    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert len(await sandbox_service.orders()) == 1


async def test_browser_closed_before_the_redirect(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """The buyer never sees the success page: the webhook alone confirms the order."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(sandbox_service.url)
    await (
        page.locator("li.product", has_text="Payments T-shirt").locator("[data-testid=buy]").click()
    )
    await page.wait_for_selector("#pay")
    await screenshot(page, "closed-before-redirect-checkout-page")

    async def pay_then_vanish(route: Route) -> None:
        if route.request.method != "POST":
            await route.continue_()
            return
        await route.fetch(max_redirects=0)  # the sandbox takes the payment...
        await route.abort()  # ...but the tab is gone before it follows the redirect

    # (Playwright does not intercept redirects, so the pay request itself is cut off.)
    await page.route("**/c/pay/**", pay_then_vanish)
    await page.click("#pay", no_wait_after=True)
    await wait_until(lambda: _paid_session_exists(sandbox_service))
    await context.close()

    async def confirmed() -> bool:
        orders = await sandbox_service.orders()
        return bool(orders) and orders[0]["status"] == "paid"

    await wait_until(confirmed, within=30)
    order = await only_order(sandbox_service)
    assert order["confirmed_via"] == "webhook"


async def test_webhook_never_arrives(browser: Browser, sandbox_service: SandboxService) -> None:
    """Stripe never delivers: the success page's verify alone confirms, once."""
    before = (await sandbox_service.product("Payments T-shirt"))["stock"]
    page = await open_checkout(browser, sandbox_service, "Payments T-shirt")
    await set_chaos(page, never=True)

    await page.click("#pay")

    await expect(page.locator("#status")).to_have_attribute("data-status", "paid", timeout=FINAL)
    await screenshot(page, "webhook-never-arrives")
    order = await only_order(sandbox_service)
    assert order["confirmed_via"] == "verify"
    assert not [d for d in await sandbox_service.deliveries() if d["status"] is not None]
    assert (await sandbox_service.product("Payments T-shirt"))["stock"] == before - 1


async def test_webhook_duplicated_and_late(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Late, doubled webhooks after verify change nothing: paid once, stock once."""
    before = (await sandbox_service.product("Payments T-shirt"))["stock"]
    page = await open_checkout(browser, sandbox_service, "Payments T-shirt")
    await set_chaos(page, delay=4, duplicate=True)

    await page.click("#pay")
    await expect(page.locator("#status")).to_have_attribute("data-status", "paid", timeout=FINAL)
    await screenshot(page, "webhook-duplicated-and-late")

    async def both_delivered() -> bool:
        done = [
            d
            for d in await sandbox_service.deliveries()
            if d["type"] == "checkout.session.completed" and d["status"] == 200
        ]
        return len(done) == 2

    await wait_until(both_delivered, within=30)
    order = await only_order(sandbox_service)
    assert order["status"] == "paid"
    assert order["confirmed_via"] == "verify"
    assert (await sandbox_service.product("Payments T-shirt"))["stock"] == before - 1


async def test_last_slot_bought_by_two_browsers_at_once(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Both pay for the last seat: one paid, one refunded, stock never below zero."""
    pages = [await open_checkout(browser, sandbox_service, "Last workshop seat") for _ in range(2)]

    await asyncio.gather(*(page.click("#pay") for page in pages))

    statuses = []
    for number, page in enumerate(pages):
        status = page.locator("#status")
        await expect(status).to_have_attribute("data-polling", "false", timeout=FINAL)
        statuses.append(await status.get_attribute("data-status"))
        await screenshot(page, f"last-slot-buyer-{number + 1}")
    assert sorted(statuses) == ["paid", "refunded"]
    orders = [
        await sandbox_service.get(f"/admin/orders/{o['id']}")
        for o in await sandbox_service.orders()
    ]
    refunded = next(o for o in orders if o["status"] == "refunded")
    assert refunded["cancel_reason"] == "out_of_stock"
    assert len(refunded["refunds"]) == 1
    assert (await sandbox_service.product("Last workshop seat"))["stock"] == 0


async def _paid_session_exists(service: SandboxService) -> bool:
    deliveries = await service.deliveries()
    return any(d["type"] == "checkout.session.completed" for d in deliveries)
