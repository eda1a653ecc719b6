"""The success page for an order refunded in another currency than its own: the receipt
counts nothing in the order's currency, and the page must not tell the buyer "$0.00"."""

from __future__ import annotations

import json

from playwright.async_api import Browser, Route, expect

from tests.browser.conftest import FINAL, SandboxService, open_checkout, screenshot


async def test_refunded_in_another_currency_names_no_amount(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """A payment refused for its currency and given back in it: "Your payment has been
    refunded", no amount, no refunded row (the receipt as GET /orders answers for it)."""
    page = await open_checkout(browser, sandbox_service, "Last workshop seat")
    await sandbox_service.buy("Last workshop seat")

    async def refunded_in_euros(route: Route) -> None:
        response = await route.fetch()
        receipt = await response.json()
        if receipt.get("status") == "refunded":
            receipt |= {
                "amount_paid": None,
                "amount_refunded": 0,
                "cancel_reason": "currency_mismatch",
            }
        await route.fulfill(response=response, body=json.dumps(receipt))

    await page.route("**/orders/*", refunded_in_euros)
    await page.click("#pay")

    box = page.locator("#status")
    await expect(box).to_have_attribute("data-status", "refunded", timeout=FINAL)
    await expect(box).to_have_attribute("data-polling", "false", timeout=FINAL)
    message = page.locator("#status-message")
    await expect(message).to_contain_text("Your payment has been refunded")
    await expect(message).not_to_contain_text("$")
    await expect(page.locator("#refunded-row")).to_be_hidden()
    await screenshot(page, "success-refunded-other-currency")
