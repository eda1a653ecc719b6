"""/docs and /redoc work offline: every asset comes from this service, none from a CDN."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Shop

# Whatever a page loads or links: src="...", href="...", url: '...', spec-url="...".
_REFERENCE = re.compile(r"""(?:src|href|spec-url|url)\s*[=:]\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_everything_from_this_service(shop: Shop, page) -> None:
    """Each script, stylesheet and icon is a local path that answers; no external URL at all."""
    response = await shop.client.get(page)

    assert response.status_code == 200
    html = response.text
    assert "http://" not in html
    assert "https://" not in html
    references = _REFERENCE.findall(html)
    assert "/openapi.json" in references
    assets = [ref for ref in references if ref != "/openapi.json"]
    assert any(ref.endswith(".js") for ref in assets)
    for ref in assets:
        assert ref.startswith("/docs/assets/"), ref
        asset = await shop.client.get(ref)
        assert asset.status_code == 200, ref
        assert len(asset.content) > 1000, ref


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_may_fetch_nothing_from_elsewhere(shop: Shop, page) -> None:
    """Images, fonts and fetches are held to this origin (ReDoc's footer logo is a CDN URL)."""
    response = await shop.client.get(page)

    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy == {
        "img-src": "'self' data:",
        "font-src": "'self' data:",
        "connect-src": "'self'",
    }


async def test_swagger_ui_does_not_call_the_online_validator(shop: Shop) -> None:
    """Swagger UI's default badge would send the schema to validator.swagger.io."""
    response = await shop.client.get("/docs")

    assert '"validatorUrl": null' in response.text


async def test_docs_assets_are_revalidated_by_etag(shop: Shop) -> None:
    """The 1.5 MB bundle is sent once; later visits get a 304."""
    first = await shop.client.get("/docs/assets/swagger-ui-bundle.js")
    again = await shop.client.get(
        "/docs/assets/swagger-ui-bundle.js", headers={"If-None-Match": first.headers["etag"]}
    )

    assert first.headers["content-type"].startswith("text/javascript")
    assert again.status_code == 304


async def test_unknown_docs_asset_is_404(shop: Shop) -> None:
    """Only the package's listed assets are served, nothing else from its folder."""
    response = await shop.client.get("/docs/assets/..%2F__init__.py")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("settings_overrides", [{"docs_enabled": False}])
@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js"])
async def test_docs_can_be_turned_off(shop: Shop, path) -> None:
    """DOCS_ENABLED=false: the pages and their assets are 404; the schema itself stays."""
    response = await shop.client.get(path)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (await shop.client.get("/openapi.json")).status_code == 200
