"""Every buyer page, in Chromium at a phone's 320 px: accessible, plain, self-contained.

Each test walks the same pages (storefront, the cancel page with its cart, a paid
order's success page, the same order partly refunded, an unknown order) and checks one
property of all of them. The sandbox's /sandbox/events (for the developer, not the
buyer: it may speak of webhooks) is held to the same accessibility and width.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    ViewportSize,
    expect,
)

from payments.merchant_events.signing import new_secret
from tests.browser.conftest import (
    FINAL,
    SandboxService,
    accessibility_violations,
    open_checkout,
    screenshot,
)
from tests.support.demo_shop import order_event, signed

PHONE: ViewportSize = {"width": 320, "height": 640}


async def phone(browser: Browser) -> BrowserContext:
    return await browser.new_context(viewport=PHONE)


JARGON = ("destination", "direct charge", "connect", "paymentintent", "payment intent", "webhook")


async def buyer_pages(
    context: BrowserContext, service: SandboxService
) -> AsyncIterator[tuple[Page, str]]:
    """Yields the page at each buyer-facing state, settled, with a name for it."""
    page = await context.new_page()
    await page.goto(service.url)
    await page.wait_for_selector("li.product")
    yield page, "storefront"

    checkout = await open_checkout(context, service, "Handmade mug")
    await checkout.click("#cancel")
    await checkout.wait_for_selector("[data-testid=cart-item]")
    yield checkout, "cancel"

    await checkout.click("#try-again")
    await checkout.click("#pay")
    await expect(checkout.locator("#status")).to_have_attribute(
        "data-polling", "false", timeout=FINAL
    )
    yield checkout, "success-paid"

    [paid] = [order for order in await service.orders() if order["status"] == "paid"]
    await service.refund(paid["id"], amount=500)
    await checkout.reload()
    await expect(checkout.locator("#status")).to_have_attribute(
        "data-status", "partially_refunded", timeout=FINAL
    )
    await expect(checkout.locator("#status")).to_have_attribute(
        "data-polling", "false", timeout=FINAL
    )
    yield checkout, "success-partially-refunded"

    await page.goto(f"{service.url}/checkout/success?session_id=cs_test_not_ours")
    await expect(page.locator("#status")).to_have_attribute("data-polling", "false")
    yield page, "success-unknown"


async def sandbox_events_pages(
    context: BrowserContext, service: SandboxService
) -> AsyncIterator[tuple[Page, str]]:
    """/sandbox/events empty, then listing a verified and an unverified delivery (made here,
    signed with the shop's secret and with another, so no sender is needed)."""
    page = await context.new_page()
    await page.goto(f"{service.url}/sandbox/events")
    await page.wait_for_selector("#events-empty")
    yield page, "events-empty"

    secret = await service.demo_shop_secret()
    good, forged = order_event(), order_event("order.refunded", status="refunded")
    assert await service.deliver_to_demo_shop(good, signed(good, secret)) == 204
    assert await service.deliver_to_demo_shop(forged, signed(forged, new_secret())) == 400
    await page.reload()
    await expect(page.locator("li.event")).to_have_count(2)
    yield page, "events-listed"


async def test_buyer_pages_pass_axe_wcag_aa(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """axe-core finds no WCAG 2.1 A/AA violation (labels, contrast, names, landmarks)."""
    found = {}
    async for page, name in buyer_pages(await phone(browser), sandbox_service):
        found[name] = await accessibility_violations(page)

    assert found == {name: [] for name in found}
    assert len(found) == 5


async def test_sandbox_events_page_passes_axe_wcag_aa(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """The events page, empty and listing events, has no WCAG 2.1 A/AA violation either."""
    found = {}
    async for page, name in sandbox_events_pages(await phone(browser), sandbox_service):
        found[name] = await accessibility_violations(page)

    assert found == {"events-empty": [], "events-listed": []}


async def test_sandbox_events_page_fits_a_320px_screen(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Long event and order ids wrap: nothing scrolls sideways on a 320 px phone."""
    widths = {}
    async for page, name in sandbox_events_pages(await phone(browser), sandbox_service):
        widths[name] = await page.evaluate("document.documentElement.scrollWidth")
        await screenshot(page, f"phone-{name}")

    assert widths == {"events-empty": PHONE["width"], "events-listed": PHONE["width"]}


async def test_buyer_pages_fit_a_320px_screen(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """Nothing scrolls sideways on a 320 px wide phone."""
    widths = {}
    async for page, name in buyer_pages(await phone(browser), sandbox_service):
        widths[name] = await page.evaluate("document.documentElement.scrollWidth")
        await screenshot(page, f"phone-{name}")

    assert widths == {name: PHONE["width"] for name in widths}
    assert len(widths) == 5


async def test_buyer_pages_use_no_payments_jargon(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """What a buyer reads says nothing of charge types, Connect, PaymentIntents or webhooks."""
    texts = {}
    async for page, name in buyer_pages(await phone(browser), sandbox_service):
        texts[name] = (await page.locator("main").inner_text()).lower()

    assert {name: [j for j in JARGON if j in text] for name, text in texts.items()} == {
        name: [] for name in texts
    }
    assert len(texts) == 5


async def test_buyer_pages_load_only_their_own_files_without_csp_errors(
    browser: Browser, sandbox_service: SandboxService
) -> None:
    """No CSP violation or script error, no request elsewhere, no file missing (the favicon)."""
    context = await phone(browser)
    errors: list[str] = []
    hosts: set[str] = set()
    failed: list[tuple[str, int]] = []
    loaded: set[str] = set()

    def console(message: ConsoleMessage) -> None:
        # A refused response is checked by its status below; anything else is a real error.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def response(answer: Response) -> None:
        path = urlsplit(answer.url).path
        loaded.add(path)
        if answer.status >= 400:
            failed.append((path, answer.status))

    context.on("console", console)
    context.on("weberror", lambda error: errors.append(str(error.error)))
    context.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    context.on("response", response)

    async for page, _name in buyer_pages(context, sandbox_service):
        await page.wait_for_load_state("networkidle")

    assert errors == []
    assert hosts == {
        urlsplit(sandbox_service.url).netloc,
        urlsplit(sandbox_service.stripe_url).netloc,
    }
    assert failed == [("/checkout/verify", 404)]  # the unknown order, and nothing else
    assert {"/static/shop.js", "/static/shop.css", "/static/favicon.svg"} <= loaded


async def test_keyboard_focus_is_visible(browser: Browser, sandbox_service: SandboxService) -> None:
    """Tabbing to a Buy button draws a visible outline around it."""
    page = await (await phone(browser)).new_page()
    await page.goto(sandbox_service.url)
    await page.wait_for_selector("li.product")

    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.dataset.testid") == "buy":
            break
    outline = await page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; })()"
    )

    assert await page.evaluate("document.activeElement.dataset.testid") == "buy"
    assert outline[0] != "none"
    assert float(outline[1].removesuffix("px")) >= 2
