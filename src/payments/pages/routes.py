"""The buyer's pages: storefront, checkout success and cancel, and their one script.

They are the reference client a real shop frontend copies: plain HTML, one
small JS file (static/shop.js) that calls the public API, one stylesheet and an
icon, all served from here (no third party, no build step). The server only fills
in the sandbox banner and links, so they show even without JavaScript; everything
the URL carries (the session id) is read by the script, never echoed into the HTML.

In sandbox mode one more page, `/sandbox/events`, shows what the demo shop's backend
received (payments.demo_shop); it is rendered here from that list, escaped.
"""

from __future__ import annotations

import hashlib
import html
from importlib.resources import files

from fastapi import APIRouter, Request, Response

from payments.deps import DemoShopDep, SettingsDep
from payments.errors import NotFound, shown_path
from payments.pages.sandbox_events import events_html

router = APIRouter(include_in_schema=False)

SANDBOX_BANNER_TEXT = "SANDBOX MODE — no real money moves; pay with 4242 4242 4242 4242"
_BANNER_SLOT = "{{ sandbox_banner }}"
_LINKS_SLOT = "{{ sandbox_links }}"
_EVENTS_SLOT = "{{ events }}"
SANDBOX_LINKS = (
    '<footer class="sandbox-links"><p>Sandbox: '
    '<a href="/sandbox/events">the events the shop received</a></p></footer>'
)

# Only our own files: no inline script or style, no third-party origin. The
# script calls this service's API (connect-src); leaving for Stripe's hosted
# page is a navigation, which this policy does not restrict.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    # Pages show live state (stock, the order's status): never serve them from a cache.
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The success URL carries the session id: do not hand it to other sites.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_package = files("payments.pages")


def _template(name: str) -> str:
    text = (_package / "templates" / name).read_text(encoding="utf-8")
    if _BANNER_SLOT not in text:
        raise RuntimeError(f"template {name} has no {_BANNER_SLOT} slot")
    return text


class _Asset:
    """A static file, read once; its ETag lets browsers revalidate instead of re-downloading."""

    def __init__(self, name: str, media_type: str) -> None:
        self.body = (_package / "static" / name).read_bytes()
        self.media_type = media_type
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


_PAGES = {
    name: _template(name)
    for name in ("storefront.html", "success.html", "cancel.html", "sandbox_events.html")
}
_ASSETS = {
    "shop.js": _Asset("shop.js", "text/javascript; charset=utf-8"),
    "shop.css": _Asset("shop.css", "text/css; charset=utf-8"),
    # An SVG: one small file, sharp at every size, drawn without any script or style.
    "favicon.svg": _Asset("favicon.svg", "image/svg+xml"),
}


def render_page(name: str, *, sandbox: bool, events: str = "") -> str:
    """The page with the sandbox banner and links filled in (or removed); everything
    dynamic is escaped. `events` (already escaped HTML) goes in last, so that nothing
    a request carried into it is taken for a slot."""
    banner = (
        f'<div id="sandbox-banner" role="status">{html.escape(SANDBOX_BANNER_TEXT)}</div>'
        if sandbox
        else ""
    )
    return (
        _PAGES[name]
        .replace(_BANNER_SLOT, banner)
        .replace(_LINKS_SLOT, SANDBOX_LINKS if sandbox else "")
        .replace(_EVENTS_SLOT, events)
    )


def _page(name: str, settings: SettingsDep) -> Response:
    return _html(render_page(name, sandbox=settings.sandbox))


def _html(text: str) -> Response:
    return Response(text, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.get("/")
async def storefront(settings: SettingsDep) -> Response:
    """Products from GET /products, each with a Buy button that starts a checkout."""
    return _page("storefront.html", settings)


@router.get("/checkout/success")
async def checkout_success(settings: SettingsDep) -> Response:
    """Where Stripe sends the buyer after paying; polls GET /checkout/verify."""
    return _page("success.html", settings)


@router.get("/checkout/cancel")
async def checkout_cancel(settings: SettingsDep) -> Response:
    """Where Stripe sends a buyer who left its page without paying."""
    return _page("cancel.html", settings)


@router.get("/sandbox/events")
async def sandbox_events(shop: DemoShopDep) -> Response:
    """Sandbox mode only: what the demo shop received, and whether each signature verified."""
    return _html(render_page("sandbox_events.html", sandbox=True, events=events_html(shop)))


@router.get("/static/{name}")
async def static_file(name: str, request: Request) -> Response:
    """The pages' script, stylesheet and icon; only the files listed in `_ASSETS` exist."""
    asset = _ASSETS.get(name)
    if asset is None:
        raise NotFound(f"no static file {shown_path(name)}")
    headers = {
        # Names are not content-hashed, so revalidate every time (cheap: 304 by ETag).
        "Cache-Control": "no-cache",
        "ETag": asset.etag,
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
