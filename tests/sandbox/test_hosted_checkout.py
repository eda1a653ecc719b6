"""The hosted checkout page at a session's `url`, driven over HTTP the way a browser would."""

import asyncio

import httpx
import pytest

from payments.sandbox.money import format_amount
from payments.sandbox.stripe_server import FakeStripe, serve_in_thread

from .builders import line_item, session_params
from .page import by_id

SUCCESS = "https://shop.example/success?session_id={CHECKOUT_SESSION_ID}"
FORM_IDS = (
    "sandbox-banner",
    "line-items",
    "total",
    "checkout-form",
    "card-number",
    "pay",
    "promo-form",
    "promo-code",
    "apply-promo",
    "async-succeed",
    "async-fail",
    "chaos",
    "chaos-delay",
    "chaos-duplicate",
    "chaos-reorder",
    "chaos-never",
    "chaos-fail-first",
    "cancel",
)


@pytest.fixture
async def browser():
    """A plain HTTP client that, like a test asserting on redirects, does not follow them."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=5) as http:
        yield http


async def _open_session(client, **overrides):
    return await client.v1.checkout.sessions.create_async(session_params(**overrides))


def _success_url(session_id: str) -> str:
    return SUCCESS.replace("{CHECKOUT_SESSION_ID}", session_id)


async def test_page_shows_banner_items_total_email_and_controls(client, browser):
    """The page lists what is bought with formatted amounts and offers every control by id."""
    session = await _open_session(
        client,
        line_items=[line_item(), line_item(name="Poster", unit_amount=550, quantity=1)],
        allow_promotion_codes=True,
    )

    response = await browser.get(session.url)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = by_id(response.text)
    assert set(FORM_IDS) <= set(page)
    assert "SANDBOX" in page["sandbox-banner"].text
    assert "no real money" in page["sandbox-banner"].text
    assert "Mug \N{MULTIPLICATION SIGN} 2 $30.00" in page["line-items"].text
    assert "Poster \N{MULTIPLICATION SIGN} 1 $5.50" in page["line-items"].text
    assert page["total"].text == "$35.50"
    assert page["customer-email"].text == "buyer@example.com"
    assert page["card-number"].value == "4242 4242 4242 4242"
    assert page["chaos"].tag == "details"
    assert {page[i].attrs["type"] for i in ("chaos-duplicate", "chaos-never")} == {"checkbox"}
    assert page["chaos-delay"].attrs["type"] == "number"
    assert "error" not in page
    assert "closed" not in page


async def test_amounts_follow_the_currency_minor_unit(client, browser):
    """Zero-decimal currencies are not divided by 100 on the page."""
    session = await _open_session(
        client, line_items=[line_item(currency="jpy", unit_amount=1500, quantity=3)]
    )

    page = by_id((await browser.get(session.url)).text)

    assert page["total"].text == "¥4,500"


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (3000, "usd", "$30.00"),
        (123456789, "eur", "€1,234,567.89"),
        (5, "gbp", "£0.05"),
        (1500, "jpy", "¥1,500"),
        (1234, "chf", "12.34 CHF"),
        (1500, "kwd", "1.500 KWD"),
        (-3000, "usd", "-$30.00"),
    ],
)
def test_format_amount_uses_integer_minor_units(amount, currency, shown):
    """Amounts are formatted from minor units per currency, never through floats."""
    assert format_amount(amount, currency) == shown


async def test_merchant_text_is_escaped(client, browser):
    """Names and emails from the session cannot inject markup, and javascript: links are dropped."""
    session = await _open_session(
        client,
        line_items=[line_item(name="<script>alert('name')</script>")],
        customer_email='"><img src=x onerror=alert(1)>',
        cancel_url="javascript:alert(1)",
    )

    response = await browser.get(session.url)

    assert "<script>" not in response.text
    assert "<img" not in response.text
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in response.text
    page = by_id(response.text)
    assert page["customer-email"].text == '"><img src=x onerror=alert(1)>'
    assert "cancel" not in page


async def test_unknown_session_is_a_404_page_that_escapes_the_id(browser, base_url):
    """An id that does not exist gets a 404 page, and the id from the URL is escaped."""
    response = await browser.get(f"{base_url}/c/pay/%3Cscript%3Ealert(1)")

    assert response.status_code == 404
    assert "not-found" in by_id(response.text)
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


async def test_card_4242_pays_and_redirects_to_success_url(fake, client, browser):
    """The succeeding test card completes the session paid and 303s to success_url with its id."""
    session = await _open_session(client)

    response = await browser.post(
        session.url, data={"action": "pay", "card_number": "4242 4242 4242 4242"}
    )

    assert response.status_code == 303
    assert response.headers["location"] == _success_url(session.id)
    completed = fake.get_session(session.id)
    assert (completed["status"], completed["payment_status"]) == ("complete", "paid")
    assert [e["type"] for e in fake.events()] == ["checkout.session.completed"]
    charge_id = fake.get_object(completed["payment_intent"])["latest_charge"]
    assert fake.get_object(charge_id)["payment_method_details"]["card"]["last4"] == "4242"


async def test_declined_card_shows_error_and_keeps_the_session_open(fake, client, browser):
    """4000 0000 0000 0002 re-renders the form with #error; nothing changes, no event."""
    session = await _open_session(client)

    response = await browser.post(
        session.url, data={"action": "pay", "card_number": "4000 0000 0000 0002"}
    )

    assert response.status_code == 402
    page = by_id(response.text)
    assert page["error"].text == "Your card was declined."
    assert page["card-number"].value == "4000 0000 0000 0002"
    assert fake.get_session(session.id)["status"] == "open"
    assert fake.events() == []


@pytest.mark.parametrize("number", ["4242 4242 4242 4241", "1234", "", "4242-4242-4242-4242"])
async def test_other_card_numbers_are_invalid(fake, client, browser, number):
    """Any number but the two test cards is refused as invalid and leaves the session open."""
    session = await _open_session(client)

    response = await browser.post(session.url, data={"action": "pay", "card_number": number})

    assert response.status_code == 400
    assert by_id(response.text)["error"].text == "Your card number is invalid."
    assert fake.get_session(session.id)["status"] == "open"
    assert fake.events() == []


async def test_applying_a_promotion_code_shows_zero_total_and_asks_to_confirm(
    fake, client, browser
):
    """Apply shows the discount line and a $0.00 total with a confirm button; nothing is paid."""
    session = await _open_session(client, allow_promotion_codes=True)

    response = await browser.post(session.url, data={"action": "promo", "promo_code": "FREE100"})

    assert response.status_code == 200
    page = by_id(response.text)
    assert page["total"].text == "$0.00"
    assert page["discount"].text == "Discount (FREE100) -$30.00"
    assert "discount" in page["line-items"].children
    assert page["confirm-promo"].text == "Confirm order ($0.00)"
    assert {"remove-promo", "promo-applied", "chaos"} <= set(page)
    assert not {"pay", "card-number", "async-succeed", "promo-code"} & set(page)
    assert fake.get_session(session.id)["status"] == "open"
    assert fake.events() == []


async def test_confirming_the_promotion_code_completes_a_free_order(fake, client, browser):
    """Confirm after Apply: amount_total 0, no_payment_required, no PaymentIntent, 303."""
    session = await _open_session(client, allow_promotion_codes=True)
    applied = await browser.post(session.url, data={"action": "promo", "promo_code": "FREE100"})

    response = await browser.post(
        session.url, data={"action": "confirm_promo", "promo_code": "FREE100"}
    )

    assert applied.status_code == 200
    assert response.status_code == 303
    assert response.headers["location"] == _success_url(session.id)
    completed = fake.get_session(session.id)
    assert (completed["amount_total"], completed["payment_status"]) == (0, "no_payment_required")
    assert completed["payment_intent"] is None
    assert [e["type"] for e in fake.events()] == ["checkout.session.completed"]


async def test_removing_the_promotion_code_restores_the_full_total(fake, client, browser):
    """Remove code goes back to the card form at the full price."""
    session = await _open_session(client, allow_promotion_codes=True)

    response = await browser.post(
        session.url, data={"action": "remove_promo", "promo_code": "FREE100", "chaos": "1"}
    )

    assert response.status_code == 200
    page = by_id(response.text)
    assert page["total"].text == "$30.00"
    assert page["promo-code"].value == ""
    assert {"pay", "apply-promo"} <= set(page)
    assert "discount" not in page
    assert fake.get_session(session.id)["status"] == "open"


async def test_promotion_code_field_is_its_own_form(client, browser):
    """Enter in the code field applies the code: it is not in the form whose first button pays."""
    session = await _open_session(client, allow_promotion_codes=True)

    page = by_id((await browser.get(session.url)).text)

    assert "promo-code" in page["promo-form"].children
    assert "promo-code" not in page["checkout-form"].children
    assert "pay" in page["checkout-form"].children


async def test_promotion_code_field_shows_only_when_the_session_allows_codes(client, browser):
    """A session without allow_promotion_codes offers no code field."""
    session = await _open_session(client)

    page = by_id((await browser.get(session.url)).text)

    assert not {"promo-form", "promo-code", "apply-promo"} & set(page)
    assert "pay" in page


async def test_applying_a_code_where_codes_are_not_allowed_is_refused(fake, client, browser):
    """A hand-made Apply on a session without allow_promotion_codes shows an error, no discount."""
    session = await _open_session(client)

    response = await browser.post(session.url, data={"action": "promo", "promo_code": "FREE100"})

    assert response.status_code == 400
    page = by_id(response.text)
    assert page["error"].text == "This checkout does not accept promotion codes."
    assert page["total"].text == "$30.00"
    assert "confirm-promo" not in page
    assert fake.get_session(session.id)["status"] == "open"


async def test_empty_promotion_code_is_refused(fake, client, browser):
    """Applying an empty code shows an error instead of the discount."""
    session = await _open_session(client, allow_promotion_codes=True)

    response = await browser.post(session.url, data={"action": "promo", "promo_code": "  "})

    assert response.status_code == 400
    page = by_id(response.text)
    assert page["error"].text == "Enter a promotion code."
    assert "confirm-promo" not in page
    assert fake.get_session(session.id)["status"] == "open"


@pytest.mark.parametrize("allow_promotion_codes", [None, False])
async def test_promotion_code_is_refused_where_the_session_does_not_allow_it(
    fake, client, browser, allow_promotion_codes
):
    """Like Stripe, a session made without allow_promotion_codes takes no code: 400, open."""
    session = await _open_session(client, allow_promotion_codes=allow_promotion_codes)

    response = await browser.post(session.url, data={"action": "promo", "promo_code": "FREE100"})

    assert response.status_code == 400
    assert by_id(response.text)["error"].text == "This checkout does not accept promotion codes."
    refused = fake.get_session(session.id)
    assert (refused["status"], refused["amount_total"]) == ("open", 3000)
    assert fake.events() == []


async def test_free_payment_status_is_set_on_the_sandbox(make_client, browser):
    """FakeStripe(free_payment_status="paid") makes promotion-code orders say paid."""
    paid_free = FakeStripe(
        webhook_secret="whsec_a", connect_webhook_secret="whsec_b", free_payment_status="paid"
    )
    with serve_in_thread(paid_free.app) as url:
        session = await _open_session(make_client(api_base=url), allow_promotion_codes=True)
        await browser.post(session.url, data={"action": "confirm_promo", "promo_code": "FREE100"})
        other = await _open_session(make_client(api_base=url), allow_promotion_codes=True)
        paid_free.complete_session(other.id, "free")
    paid_free.close()

    assert paid_free.get_session(session.id)["payment_status"] == "paid"
    assert paid_free.get_session(other.id)["payment_status"] == "paid"


@pytest.mark.parametrize(
    ("action", "settled_type"),
    [
        ("async_succeed", "checkout.session.async_payment_succeeded"),
        ("async_fail", "checkout.session.async_payment_failed"),
    ],
)
async def test_bank_debit_completes_now_and_settles_later(
    fake, client, browser, action, settled_type
):
    """The async buttons complete unpaid at once, then the sandbox itself settles the payment."""
    session = await _open_session(client)

    response = await browser.post(session.url, data={"action": action})
    pending = fake.get_session(session.id)
    types_before = [e["type"] for e in fake.events()]
    settled_in_time = fake.wait_for_deliveries(3)

    assert response.status_code == 303
    assert response.headers["location"] == _success_url(session.id)
    assert (pending["status"], pending["payment_status"]) == ("complete", "unpaid")
    assert types_before == ["checkout.session.completed"]
    assert settled_in_time
    assert [e["type"] for e in fake.events()] == [settled_type, "checkout.session.completed"]
    expected = "paid" if action == "async_succeed" else "unpaid"
    assert fake.get_session(session.id)["payment_status"] == expected


async def test_cancel_link_returns_to_the_shop_and_changes_nothing(fake, client, browser):
    """#cancel points at cancel_url; leaving keeps the session open and records no event."""
    session = await _open_session(client)

    page = by_id((await browser.get(session.url)).text)
    again = by_id((await browser.get(session.url)).text)

    assert page["cancel"].tag == "a"
    assert page["cancel"].attrs["href"] == "https://shop.example/cancel"
    assert "checkout-form" in again
    assert fake.get_session(session.id)["status"] == "open"
    assert fake.events() == []


async def test_paid_session_shows_the_closed_page(fake, client, browser):
    """After paying, the page says so (#closed) and a second payment attempt is refused."""
    session = await _open_session(client)
    await browser.post(session.url, data={"action": "pay", "card_number": "4242424242424242"})

    shown = await browser.get(session.url)
    resubmitted = await browser.post(
        session.url, data={"action": "pay", "card_number": "4242424242424242"}
    )

    assert shown.status_code == 200
    page = by_id(shown.text)
    assert "already been paid" in page["closed"].text
    assert page["return"].attrs["href"] == _success_url(session.id)
    assert "checkout-form" not in page
    assert resubmitted.status_code == 409
    assert "closed" in by_id(resubmitted.text)
    assert len(fake.events()) == 1


async def test_expired_session_shows_the_closed_page(fake, client, browser):
    """An expired session cannot be paid; its page says it expired."""
    session = await _open_session(client)
    fake.expire_session(session.id)

    response = await browser.get(session.url)

    assert "expired" in by_id(response.text)["closed"].text
    assert "pay" not in by_id(response.text)


async def test_double_submit_completes_the_session_once(fake, client, browser):
    """Two concurrent pay clicks: one 303, one closed page, one completion event."""
    session = await _open_session(client)
    form = {"action": "pay", "card_number": "4242 4242 4242 4242"}

    first, second = await asyncio.gather(
        browser.post(session.url, data=form), browser.post(session.url, data=form)
    )

    assert sorted([first.status_code, second.status_code]) == [303, 409]
    assert len(fake.events("checkout.session.completed")) == 1


async def test_bad_chaos_value_is_reported_on_the_page(fake, client, browser):
    """A chaos delay that is not a number re-renders the form with an error; nothing is paid."""
    session = await _open_session(client)

    response = await browser.post(
        session.url,
        data={"action": "pay", "card_number": "4242", "chaos": "1", "chaos_delay": "soon"},
    )

    assert response.status_code == 400
    assert "Chaos delay" in by_id(response.text)["error"].text
    assert fake.get_session(session.id)["status"] == "open"


async def test_page_needs_no_key_and_is_not_logged_as_api_traffic(fake, client, browser, base_url):
    """The buyer's page is open while /v1 still demands a key; page hits stay out of `requests`."""
    session = await _open_session(client)

    page = await browser.get(session.url)
    api = await browser.get(f"{base_url}/v1/checkout/sessions/{session.id}")

    assert page.status_code == 200
    assert api.status_code == 401
    assert [r.path for r in fake.requests] == [
        "/v1/checkout/sessions",
        f"/v1/checkout/sessions/{session.id}",
    ]


async def test_public_url_is_the_base_of_session_urls(make_client):
    """public_url lets browsers reach the page at another address than the SDK uses."""
    sandbox = FakeStripe(
        webhook_secret="whsec_a",
        connect_webhook_secret="whsec_b",
        public_url="http://sandbox.example:12111/",
    )
    with serve_in_thread(sandbox.app) as url:
        session = await _open_session(make_client(api_base=url))

    assert session.url == f"http://sandbox.example:12111/c/pay/{session.id}"
