"""The cancel page in Chromium: nothing was charged, and the way back to the checkout."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.conftest import FINAL, SandboxService, open_checkout, screenshot


async def test_cancel_then_try_again_returns_to_the_checkout(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Leaving Stripe's page lists what was being bought; Try again opens a checkout for it."""
    page = await open_checkout(browser, sandbox_service, "Handmade mug")

    await page.click("#cancel")

    await expect(page.locator("h1")).to_have_text("Checkout cancelled")
    await expect(page.locator("[data-testid=cart-item]")).to_have_text(
        "Handmade mug \u00d7 1 \u2014 $18.00"
    )
    await screenshot(page, "cancel")
    await page.click("#try-again")
    await page.wait_for_selector("#pay")
    await expect(page.locator("#line-items")).to_contain_text("Handmade mug")
    await page.click("#pay")
    await expect(page.locator("#status")).to_have_attribute("data-status", "paid", timeout=FINAL)
    statuses = sorted(o["status"] for o in await sandbox_service.orders())
    assert statuses == ["paid", "pending"]  # the abandoned checkout simply expires later


async def test_cancel_page_without_a_cart_links_back_to_the_shop(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Opened in a tab that bought nothing, the page offers the way back to the shop only."""
    page = await browser.new_page()

    await page.goto(f"{sandbox_service.url}/checkout/cancel")

    await expect(page.locator("#message")).to_contain_text("nothing was charged")
    await expect(page.locator("#cart")).to_be_hidden()
    await page.click("#back")
    await page.wait_for_selector("li.product")
