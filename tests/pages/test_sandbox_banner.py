"""In sandbox mode every page says so loudly, rendered by the server so it shows without JS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from payments.pages import router
from tests.conftest import make_settings

BANNER = (
    '<div id="sandbox-banner" role="status">'
    "SANDBOX MODE — no real money moves; pay with 4242 4242 4242 4242</div>"
)
PAGES = ["/", "/checkout/success?session_id=cs_1", "/checkout/cancel"]


@pytest.fixture
async def pages(database_url: str, stripe_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Only the pages, with sandbox settings: they read nothing else, so nothing else starts."""
    app = FastAPI()
    app.include_router(router)
    app.state.settings = make_settings(database_url, stripe_url, sandbox=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://payments.test"
    ) as client:
        yield client


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_shows_the_sandbox_banner(pages: httpx.AsyncClient, path: str) -> None:
    """Nobody mistakes the sandbox for real payments, on any page, even without JavaScript."""
    response = await pages.get(path)

    assert response.status_code == 200
    assert response.text.count(BANNER) == 1
    assert "{{" not in response.text


@pytest.mark.parametrize("settings_overrides", [{"sandbox": True, "sandbox_port": 0}])
async def test_the_service_in_sandbox_mode_shows_the_banner(client: httpx.AsyncClient) -> None:
    """The whole service started with SANDBOX=true passes its mode to the pages."""
    response = await client.get("/")

    assert BANNER in response.text
