"""The success page in Chromium: one clear state per outcome, reached through the sandbox."""

from __future__ import annotations

from playwright.async_api import Browser, Page, Route, expect

from tests.browser.conftest import (
    FINAL,
    SandboxService,
    only_order,
    open_checkout,
    screenshot,
)


async def settled(page: Page, status: str) -> None:
    """The page shows `status` and has stopped asking."""
    box = page.locator("#status")
    await expect(box).to_have_attribute("data-status", status, timeout=FINAL)
    await expect(box).to_have_attribute("data-polling", "false", timeout=FINAL)


async def test_paid_shows_what_was_bought_and_the_amount_paid(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Paid: the items with their quantities, the total and the amount paid, and a thank-you."""
    checkout = await sandbox_service.start_checkout("Payments T-shirt", quantity=2)
    page = await browser.new_page()
    await page.goto(checkout["checkout_url"])

    await page.click("#pay")

    await settled(page, "paid")
    await expect(page.locator("h1")).to_have_text("Thank you for your order")
    await expect(page.locator("#status-message")).to_contain_text("$50.00")
    await expect(page.locator("#checking")).to_be_hidden()
    item = page.locator("[data-testid=item]")
    await expect(item).to_have_count(1)
    await expect(item.locator("[data-testid=item-name]")).to_contain_text("Payments T-shirt")
    await expect(item.locator("[data-testid=item-quantity]")).to_have_text("2")
    await expect(page.locator("#amount-total")).to_have_text("$50.00")
    await expect(page.locator("#amount-paid")).to_have_text("$50.00")
    await expect(page.locator("#refunded-row")).to_be_hidden()
    await expect(page.locator("#order-id")).to_have_text(checkout["order_id"])
    await expect(page.locator("#try-again")).to_be_hidden()
    await screenshot(page, "success-paid")


async def test_processing_shows_still_checking_until_paid(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """A bank debit: "processing" with a visible "Still checking" while it polls, then paid."""
    page = await open_checkout(browser, sandbox_service, "Concert ticket")

    await page.click("#async-succeed")

    box = page.locator("#status")
    await expect(box).to_have_attribute("data-status", "processing", timeout=FINAL)
    await expect(box).to_have_attribute("data-polling", "true")
    await expect(page.locator("h1")).to_have_text("Payment processing")
    await expect(page.locator("#checking")).to_be_visible()
    await expect(page.locator("#checking")).to_have_text("Still checking…")
    await expect(page.locator("#amount-total")).to_have_text("$45.00")
    await expect(page.locator("#paid-row")).to_be_hidden()
    await screenshot(page, "success-processing")
    await settled(page, "paid")
    await expect(page.locator("#checking")).to_be_hidden()
    await expect(page.locator("#amount-paid")).to_have_text("$45.00")
    await screenshot(page, "success-processing-then-paid")


async def test_failed_says_not_charged_and_offers_to_try_again(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """A bank debit that fails: processing, then failed, not charged, stock untouched."""
    before = (await sandbox_service.product("Payments T-shirt"))["stock"]
    page = await open_checkout(browser, sandbox_service, "Payments T-shirt")

    await page.click("#async-fail")

    await expect(page.locator("#status")).to_have_attribute(
        "data-status", "processing", timeout=FINAL
    )
    await settled(page, "failed")
    await expect(page.locator("h1")).to_have_text("Payment failed")
    await expect(page.locator("#status-message")).to_contain_text("you have not been charged")
    await expect(page.locator("#checking")).to_be_hidden()
    await expect(page.locator("#paid-row")).to_be_hidden()
    await expect(page.locator("#try-again")).to_be_visible()
    await screenshot(page, "success-failed")
    assert (await only_order(sandbox_service))["status"] == "failed"
    assert (await sandbox_service.product("Payments T-shirt"))["stock"] == before


async def test_expired_says_not_charged(browser: Browser, sandbox_service: SandboxService) -> None:
    """A checkout that timed out unpaid: the page says so, and that nothing was charged."""
    checkout = await sandbox_service.start_checkout("Payments T-shirt")
    session_id = checkout["session_id"]
    await sandbox_service.stripe("POST", f"/v1/checkout/sessions/{session_id}/expire")
    page = await browser.new_page()

    await page.goto(f"{sandbox_service.url}/checkout/success?session_id={session_id}")

    await settled(page, "expired")
    await expect(page.locator("h1")).to_have_text("Checkout expired")
    await expect(page.locator("#status-message")).to_contain_text("you have not been charged")
    await expect(page.locator("#amount-total")).to_have_text("$25.00")
    # This tab bought nothing itself: Try again leads to the shop.
    await expect(page.locator("#try-again")).to_be_visible()
    await expect(page.locator("#try-again")).to_have_attribute("href", "/")
    await screenshot(page, "success-expired")


async def test_try_again_after_a_failed_payment_restarts_the_same_items(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """In the tab that was buying, Try again opens a new checkout for the same items, as on
    the cancel page; the failed order stays failed."""
    page = await open_checkout(browser, sandbox_service, "Handmade mug")
    await page.click("#async-fail")
    await settled(page, "failed")

    await page.click("#try-again")

    await page.wait_for_selector("#pay")
    await expect(page.locator("#line-items")).to_contain_text("Handmade mug")
    statuses = sorted(o["status"] for o in await sandbox_service.orders())
    assert statuses == ["failed", "pending"]


async def test_refunded_shows_why_and_the_amount(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Another buyer took the last seat first: this buyer sees the refund and its amount."""
    page = await open_checkout(browser, sandbox_service, "Last workshop seat")
    await sandbox_service.buy("Last workshop seat")

    await page.click("#pay")

    await settled(page, "refunded")
    await expect(page.locator("h1")).to_have_text("Order refunded")
    message = page.locator("#status-message")
    await expect(message).to_contain_text("sold out just before your payment")
    await expect(message).to_contain_text("$99.00 has been refunded")
    await expect(page.locator("#amount-paid")).to_have_text("$99.00")
    await expect(page.locator("#amount-refunded")).to_have_text("$99.00")
    await screenshot(page, "success-refunded")
    refunded = next(o for o in await sandbox_service.orders() if o["status"] == "refunded")
    assert [r["amount"] for r in refunded["refunds"]] == [9900]


async def test_unknown_session_says_there_is_no_such_order(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """A link this shop never made: "Order not found", no receipt, no endless checking."""
    page = await browser.new_page()

    await page.goto(f"{sandbox_service.url}/checkout/success?session_id=cs_test_not_ours")

    await settled(page, "unknown")
    await expect(page.locator("h1")).to_have_text("Order not found")
    await expect(page.locator("#receipt")).to_be_hidden()
    await expect(page.locator("#checking")).to_be_hidden()
    await screenshot(page, "success-unknown")


async def test_unreachable_service_says_so_and_keeps_trying(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """No answer at all (the network drops every call): the page says so and keeps checking."""
    checkout = await sandbox_service.start_checkout("Payments T-shirt")
    page = await browser.new_page()

    async def offline(route: Route) -> None:
        await route.abort("internetdisconnected")

    await page.route("**/checkout/verify?*", offline)
    await page.goto(f"{sandbox_service.url}/checkout/success?session_id={checkout['session_id']}")

    box = page.locator("#status")
    await expect(box).to_have_attribute("data-status", "unreachable", timeout=FINAL)
    await expect(box).to_have_attribute("data-polling", "true")
    await expect(page.locator("#status-message")).to_have_text(
        "We can't reach the shop right now. We'll keep trying."
    )
    await expect(page.locator("#checking")).to_be_visible()
    await screenshot(page, "success-unreachable")
