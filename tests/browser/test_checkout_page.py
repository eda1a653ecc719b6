"""The sandbox's hosted checkout page in Chromium: a promotion code, as on Stripe's page."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.conftest import FINAL, SandboxService, only_order, open_checkout, screenshot


async def test_promotion_code_shows_zero_total_and_confirm_completes_it(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Apply -> the discount line and a $0.00 total -> Confirm -> a paid, free order."""
    page = await open_checkout(browser, sandbox_service, "Payments T-shirt")
    await page.fill("#promo-code", "FREE100")

    await page.click("#apply-promo")

    await expect(page.locator("#total")).to_have_text("$0.00")
    await expect(page.locator("#discount")).to_contain_text("-$25.00")
    await expect(page.locator("#pay")).to_have_count(0)
    await screenshot(page, "checkout-promotion-code-applied")
    assert (await only_order(sandbox_service))["status"] == "pending"  # nothing until confirmed
    await page.click("#confirm-promo")
    await expect(page.locator("#status")).to_have_attribute("data-status", "paid", timeout=FINAL)
    await expect(page.locator("#status-message")).to_have_text(
        "Your order is confirmed. There was nothing to pay."
    )
    await expect(page.locator("#amount-discount")).to_have_text("\u2212$25.00")
    await expect(page.locator("#amount-total")).to_have_text("$0.00")
    await expect(page.locator("#amount-paid")).to_have_text("$0.00")
    await screenshot(page, "success-free-order")
    order = await only_order(sandbox_service)
    assert (order["status"], order["amount_paid"]) == ("paid", 0)


async def test_enter_in_the_code_field_applies_the_code(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Pressing Enter after typing a code applies it; it never pays by card."""
    page = await open_checkout(browser, sandbox_service, "Payments T-shirt")

    await page.fill("#promo-code", "FREE100")
    await page.press("#promo-code", "Enter")

    await expect(page.locator("#confirm-promo")).to_be_visible()
    assert (await only_order(sandbox_service))["status"] == "pending"
