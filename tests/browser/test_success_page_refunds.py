"""The success page of an order the shop refunded after it went through (admin API): the
buyer who opens or reloads the link sees what came back of what they paid."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import FINAL, SandboxService, screenshot
from tests.conftest import wait_until


async def receipt(browser: Browser, service: SandboxService, checkout: dict[str, Any]) -> Page:
    """The buyer opens the link Stripe sent them back to, and the page stops asking."""
    page = await browser.new_page()
    await page.goto(f"{service.url}/checkout/success?session_id={checkout['session_id']}")
    await expect(page.locator("#status")).to_have_attribute("data-polling", "false", timeout=FINAL)
    return page


async def test_partial_refund_shows_partially_refunded_with_both_amounts(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """$10.00 of a $25.00 order given back: "partially refunded", the refund and what was
    paid, in the announced message and the receipt; the page does not keep asking."""
    checkout = await sandbox_service.buy("Payments T-shirt")
    await sandbox_service.refund(checkout["order_id"], amount=1000)

    page = await receipt(browser, sandbox_service, checkout)

    await expect(page.locator("#status")).to_have_attribute("data-status", "partially_refunded")
    await expect(page.locator("h1")).to_have_text("Order partially refunded")
    await expect(page.locator("#status-message")).to_have_text(
        "Your order has been partially refunded: $10.00 of the $25.00 you paid is on its way "
        "back to you. The refund can take 5\u201310 business days to show on your statement."
    )
    await expect(page.locator("#checking")).to_be_hidden()
    await expect(page.locator("#amount-paid")).to_have_text("$25.00")
    await expect(page.locator("#amount-refunded")).to_have_text("$10.00")
    await expect(page.locator("#try-again")).to_be_hidden()
    await screenshot(page, "success-partially-refunded")


async def test_full_refund_of_a_kept_order_shows_refunded_without_sold_out(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """All of a paid order given back: "refunded" and the amount, and no apology for an order
    that could not be completed (that wording is for the sold-out case)."""
    checkout = await sandbox_service.buy("Payments T-shirt")
    await sandbox_service.refund(checkout["order_id"])

    page = await receipt(browser, sandbox_service, checkout)

    await expect(page.locator("#status")).to_have_attribute("data-status", "refunded")
    await expect(page.locator("h1")).to_have_text("Order refunded")
    message = page.locator("#status-message")
    await expect(message).to_contain_text(
        "Your order has been refunded: all of the $25.00 you paid is on its way back to you."
    )
    await expect(message).not_to_contain_text("Sorry")
    await expect(page.locator("#amount-paid")).to_have_text("$25.00")
    await expect(page.locator("#amount-refunded")).to_have_text("$25.00")
    await screenshot(page, "success-refunded-kept")


async def test_refund_that_fails_later_shows_the_order_paid_again(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """The card could no longer take the refund (Stripe's refund.failed, delivered by the
    sandbox): reloading the page shows the order paid, with nothing refunded."""
    checkout = await sandbox_service.buy("Payments T-shirt")
    await sandbox_service.refund(checkout["order_id"])
    page = await receipt(browser, sandbox_service, checkout)
    await expect(page.locator("#status")).to_have_attribute("data-status", "refunded")

    async def the_refund() -> dict[str, Any]:
        [refund] = (await sandbox_service.get(f"/admin/orders/{checkout['order_id']}"))["refunds"]
        return dict(refund)

    async def sent() -> bool:  # the outbox asked Stripe, which took it
        return bool((await the_refund())["status"] == "succeeded")

    await wait_until(sent, within=FINAL / 1000)
    refund_id = (await the_refund())["provider_refund_id"]
    await sandbox_service.stripe("POST", f"/_sandbox/refunds/{refund_id}/fail")

    async def paid_again() -> bool:
        order = await sandbox_service.get(f"/orders/{checkout['order_id']}")
        return bool(order["status"] == "paid")

    await wait_until(paid_again, within=FINAL / 1000)
    await page.reload()

    box = page.locator("#status")
    await expect(box).to_have_attribute("data-status", "paid", timeout=FINAL)
    await expect(box).to_have_attribute("data-polling", "false", timeout=FINAL)
    await expect(page.locator("h1")).to_have_text("Thank you for your order")
    await expect(page.locator("#status-message")).to_contain_text("$25.00")
    await expect(page.locator("#amount-paid")).to_have_text("$25.00")
    await expect(page.locator("#refunded-row")).to_be_hidden()
    await screenshot(page, "success-refund-failed-paid-again")
