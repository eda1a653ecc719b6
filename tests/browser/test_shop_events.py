"""The whole loop in the sandbox: buy, pay, Stripe's webhook in, the shop's event out.

NEEDS THE SENDER: the service's background sender of the shop's events
(payments.merchant_events, started by `payments serve` while MERCHANT_WEBHOOKS_ENABLED,
default true) delivering to the demo shop's endpoint. Without it this test fails at the
wait for the event, with the page's empty state on screen.
"""

from __future__ import annotations

from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.conftest import FINAL, SandboxService, only_order, open_checkout, screenshot
from tests.conftest import wait_until


async def test_paid_order_reaches_the_shop_with_a_verified_signature(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Pay with 4242: /sandbox/events shows that order's order.paid, signature verified."""
    page = await open_checkout(browser, sandbox_service, "Payments T-shirt")
    await page.fill("#card-number", "4242 4242 4242 4242")
    await page.click("#pay")
    await expect(page.locator("#status")).to_have_attribute("data-status", "paid", timeout=FINAL)
    order = await only_order(sandbox_service)

    await page.get_by_role("link", name="the events the shop received").click()
    # A retried delivery may show twice; the first (newest) is checked.
    paid = (
        page.locator("li.event")
        .filter(has=page.get_by_role("heading", name="order.paid", exact=True))
        .first
    )
    await wait_until(lambda: _shown_after_reload(page, paid), within=FINAL / 1000)

    await expect(paid.locator(".order-id")).to_have_text(order["id"])
    await expect(paid.locator(".status-value")).to_have_text("paid")
    await expect(paid.locator(".verified")).to_have_text("Yes")
    await screenshot(page, "sandbox-events")


async def _shown_after_reload(page: Page, item: Locator) -> bool:
    """The page is rendered by the server: look, and if it is not there yet, reload."""
    if await item.count():
        return True
    await page.reload()
    return False
