"""Interactive API docs (`/docs`, `/redoc`) that work with no internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank
offline. The assets come from the `fastapi-offline` package (kept up to date
with both projects) and are served from here; the pages are FastAPI's, pointed
at them. `DOCS_ENABLED=false` turns the pages and their assets off (404);
`/openapi.json` stays, since clients and tools are built from it.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

from payments.deps import SettingsDep
from payments.errors import NotFound, shown_path

router = APIRouter(include_in_schema=False)

ASSETS_PATH = "/docs/assets"
_MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_TITLE = "payments API"
# The pages load their scripts from here; this keeps anything else they would fetch
# here too (ReDoc's footer asks cdn.redoc.ly for a logo, and hides it when refused).
_DOCS_HEADERS = {
    "Content-Security-Policy": "img-src 'self' data:; font-src 'self' data:; connect-src 'self'"
}


def _require_docs(settings: SettingsDep) -> None:
    if not settings.docs_enabled:
        raise NotFound("the API docs are turned off here (DOCS_ENABLED=false)")


@router.get("/docs")
async def swagger_ui(request: Request, settings: SettingsDep) -> Response:
    _require_docs(settings)
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=_TITLE,
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        # Swagger UI would otherwise ask validator.swagger.io about the schema.
        swagger_ui_parameters={"validatorUrl": None},
    )
    page.headers.update(_DOCS_HEADERS)
    return page


@router.get("/redoc")
async def redoc(request: Request, settings: SettingsDep) -> Response:
    _require_docs(settings)
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=_TITLE,
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )
    page.headers.update(_DOCS_HEADERS)
    return page


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str, request: Request, settings: SettingsDep) -> Response:
    """Only the listed files exist; each is read once and revalidated by its ETag."""
    _require_docs(settings)
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise NotFound(f"no docs asset {shown_path(name)}")
    body, etag = _asset(name)
    headers = {"Cache-Control": "no-cache", "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@cache
def _asset(name: str) -> tuple[bytes, str]:
    body = (files("fastapi_offline") / "static" / name).read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
