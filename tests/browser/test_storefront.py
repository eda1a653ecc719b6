"""The storefront in Chromium: products in plain words, and errors on the row they concern."""

from __future__ import annotations

from playwright.async_api import Browser, Request, expect

from tests.browser.conftest import SandboxService, screenshot


async def test_sold_out_error_names_the_product_on_its_row(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Someone else bought the last seat meanwhile: the row says so, shows Sold out, Buy is off."""
    page = await browser.new_page()
    await page.goto(sandbox_service.url)
    row = page.locator("li.product", has_text="Last workshop seat")
    await expect(row.locator("[data-testid=stock]")).to_have_text("Only 1 left")
    await sandbox_service.buy("Last workshop seat")

    await row.locator("[data-testid=buy]").click()

    error = row.locator("[data-testid=row-error]")
    await expect(error).to_have_text("Sorry, \u201cLast workshop seat\u201d has just sold out.")
    await expect(error).to_have_attribute("role", "alert")
    await expect(row.locator("[data-testid=stock]")).to_have_text("Sold out")
    await expect(row.locator("[data-testid=buy]")).to_be_disabled()
    await expect(page.locator("#error")).to_be_hidden()
    other = page.locator("li.product", has_text="Payments T-shirt")
    await expect(other.locator("[data-testid=row-error]")).to_be_hidden()
    await expect(other.locator("[data-testid=buy]")).to_be_enabled()
    await screenshot(page, "storefront-sold-out")
    assert len(await sandbox_service.orders()) == 1  # only the other buyer's


async def test_products_say_who_sells_them_in_plain_words(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """A seller's product says "Sold by <seller>"; no payments jargon reaches the buyer."""
    page = await browser.new_page()

    await page.goto(sandbox_service.url)

    mug = page.locator("li.product", has_text="Handmade mug")
    await expect(mug.locator("[data-testid=seller]")).to_have_text("Sold by Clayworks Studio")
    shirt = page.locator("li.product", has_text="Payments T-shirt")
    await expect(shirt.locator("[data-testid=seller]")).to_have_count(0)
    text = (await page.locator("main").inner_text()).lower()
    for jargon in ("destination", "direct charge", "connect", "paymentintent", "platform"):
        assert jargon not in text
    await screenshot(page, "storefront")


async def test_refused_checkout_is_said_plainly_and_not_retried(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Stripe refuses the order for good (below its minimum charge): one request, no retries,
    a plain message on the row, and the order ends failed."""
    await sandbox_service.stripe(
        "POST",
        "/_sandbox/faults",
        status=400,
        type="invalid_request_error",
        code="amount_too_small",
        path_prefix="/v1/checkout/sessions",
    )
    page = await browser.new_page()
    starts: list[Request] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/checkout/sessions"):
            starts.append(request)

    page.on("request", seen)
    await page.goto(sandbox_service.url)
    row = page.locator("li.product", has_text="Payments T-shirt")

    await row.locator("[data-testid=buy]").click()

    await expect(row.locator("[data-testid=row-error]")).to_have_text(
        "Sorry, we can't take payment for \u201cPayments T-shirt\u201d online. "
        "Trying again won't help; please contact us to buy it."
    )
    await expect(row.locator("[data-testid=buy]")).to_be_enabled()
    await screenshot(page, "storefront-refused")
    assert len(starts) == 1
    [order] = await sandbox_service.orders()
    assert (order["status"], order["cancel_reason"]) == ("failed", "provider_rejected")
