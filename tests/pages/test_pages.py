"""The buyer's pages: served as HTML with strict headers, with the elements shop.js uses."""

from __future__ import annotations

import re
from importlib.resources import files

import httpx
import pytest

from payments.models import OrderStatus
from payments.orders.states import OPEN

PAGES = ["/", "/checkout/success?session_id=cs_test_123", "/checkout/cancel"]
SCRIPT_TAG = '<script src="/static/shop.js" defer></script>'


def shipped(name: str) -> str:
    return (files("payments.pages") / "static" / name).read_text(encoding="utf-8")


async def page(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_uncached_html_under_a_strict_policy(client, path) -> None:
    """Live state is never cached, and only our own scripts, styles and API calls run."""
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    for directive in ("script-src 'self'", "style-src 'self'", "connect-src 'self'"):
        assert directive in policy
    assert response.headers["referrer-policy"] == "no-referrer"
    assert '<link rel="stylesheet" href="/static/shop.css">' in response.text


async def test_storefront_has_the_list_the_script_fills(client) -> None:
    """The storefront loads shop.js and has the product list and the error line."""
    html = await page(client, "/")

    assert '<body data-page="storefront">' in html
    assert SCRIPT_TAG in html
    assert '<ul id="products" aria-label="Products"></ul>' in html
    assert '<p id="error" role="alert" hidden></p>' in html


async def test_success_page_has_the_status_the_script_updates(client) -> None:
    """The success page loads shop.js and has #status and #order-id for verify's answer."""
    html = await page(client, "/checkout/success?session_id=cs_test_123")

    assert '<body data-page="success">' in html
    assert SCRIPT_TAG in html
    assert 'id="status"' in html
    assert 'id="order-id"' in html


async def test_success_page_never_echoes_the_query(client) -> None:
    """The session id is read by the script, not written into the HTML, so it cannot inject."""
    html = await page(client, "/checkout/success?session_id=<script>alert(1)</script>")

    assert "alert(1)" not in html


async def test_cancel_page_says_nothing_was_charged(client) -> None:
    """A buyer who left Stripe's page learns no money moved and can go back to the shop."""
    html = await page(client, "/checkout/cancel")

    assert "You left the checkout; nothing was charged." in html
    assert '<a id="back" href="/">' in html


@pytest.mark.parametrize("path", PAGES)
async def test_no_banner_outside_sandbox_mode(client, path) -> None:
    """With a real Stripe account the pages do not claim to be a sandbox."""
    html = await page(client, path)

    assert "sandbox-banner" not in html
    assert "SANDBOX" not in html
    assert "{{" not in html


async def test_script_is_served_as_javascript(client) -> None:
    """shop.js is served with a script content type the CSP and nosniff accept."""
    response = await client.get("/static/shop.js")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "Idempotency-Key" in response.text
    assert "/checkout/verify" in response.text


async def test_stylesheet_is_served_as_css(client) -> None:
    """shop.css is served as CSS (the CSP forbids inline styles, so this is the only style)."""
    response = await client.get("/static/shop.css")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert "#sandbox-banner" in response.text


async def test_static_files_revalidate_by_etag(client) -> None:
    """Browsers revalidate the unhashed file names and get 304 when nothing changed."""
    first = await client.get("/static/shop.js")

    again = await client.get("/static/shop.js", headers={"If-None-Match": first.headers["etag"]})

    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("name", ["nope.js", "..%2Fseed.py", "..%2F__init__.py"])
async def test_only_the_listed_static_files_exist(client, name) -> None:
    """/static serves its two files and nothing else from the package."""
    response = await client.get(f"/static/{name}")

    assert response.status_code == 404


async def test_pages_stay_out_of_the_api_schema(client) -> None:
    """The OpenAPI schema documents the API, not the HTML pages."""
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert not {"/", "/checkout/success", "/checkout/cancel", "/static/{name}"} & set(paths)


def test_every_element_the_script_looks_up_exists() -> None:
    """Renaming an id in a page without the script (or the reverse) breaks a test, not buyers."""
    package = files("payments.pages")
    script = (package / "static" / "shop.js").read_text(encoding="utf-8")
    pages = "".join(
        (package / "templates" / name).read_text(encoding="utf-8")
        for name in ("storefront.html", "success.html", "cancel.html")
    )

    wanted = set(re.findall(r'getElementById\("([\w-]+)"\)', script))
    amounts = set(re.findall(r'showAmount\("([\w-]+)"', script))

    assert wanted == {
        # storefront
        "loading",
        "products",
        "error",
        # success
        "status",
        "title",
        "status-message",
        "checking",
        "try-again",
        "receipt",
        "item-rows",
        "order-id",
        # cancel
        "cart",
        "cart-items",
        "retry-error",
    }
    assert amounts == {"subtotal", "discount", "total", "paid", "refunded"}
    assert {name for name in wanted if f'id="{name}"' not in pages} == set()
    assert {name for name in amounts if f'id="amount-{name}"' not in pages} == set()


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_has_the_favicon(client, path) -> None:
    """Each page names its icon, served from this service (the CSP allows no other origin)."""
    html = await page(client, path)

    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html


async def test_favicon_is_a_plain_svg(client) -> None:
    """The icon is SVG with nothing that runs or styles: no script, no style, no link out."""
    response = await client.get("/static/favicon.svg")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.text
    assert body.startswith("<svg")
    for forbidden in ("<script", "<style", "<a ", "href=", "url("):
        assert forbidden not in body
    assert not re.search(r"\son\w+=", body)  # no event handler attributes


async def test_cancel_page_offers_to_try_again(client) -> None:
    """The cancel page has the try-again button the script fills with this tab's cart."""
    html = await page(client, "/checkout/cancel")

    assert '<button id="try-again" type="button">Try again</button>' in html
    assert SCRIPT_TAG in html


def test_every_order_status_has_its_own_words_on_the_success_page() -> None:
    """Each status GET /checkout/verify can answer (partially_refunded, refunded, ...) has a
    heading and a message written for it in shop.js, not the generic "Your order is ..."."""
    outcomes = re.search(r"^const OUTCOMES = \{\n(.*?)^\};$", shipped("shop.js"), re.M | re.S)

    assert outcomes is not None
    written = set(re.findall(r"^  (\w+): \{$", outcomes.group(1), re.M))
    assert {status.value for status in OrderStatus} - written == set()


def test_success_page_asks_again_only_while_the_order_is_unsettled() -> None:
    """The page polls an open order and one whose refund is still owed; paid, partially
    refunded and refunded orders are settled, and the page stops asking."""
    unsettled = re.search(r"^const UNSETTLED = new Set\(\[(.*?)\]\);$", shipped("shop.js"), re.M)

    assert unsettled is not None
    assert set(re.findall(r'"(\w+)"', unsettled.group(1))) == {
        status.value for status in OPEN | {OrderStatus.REFUND_PENDING}
    }
