"""HEAD on every GET route: the GET answer without its body (RFC 9110, section 9.3.2).

Monitoring tools and link checkers probe with HEAD; FastAPI routes answer only the
methods they declare, so without this `HEAD /healthz` was a 405. The OpenAPI schema
lists GET only, as HEAD is implied by it (schemathesis treats it so too). A path
with no GET route keeps its 405, with the methods it does take in `Allow`.
"""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    """Run a HEAD request as GET where a GET route matches; send no body bytes for any HEAD.

    The headers stay those of the GET answer, `Content-Length` included, as the RFC
    allows; the server (uvicorn) sends no body for HEAD either way.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}
        if any(route.matches(as_get)[0] is Match.FULL for route in scope["app"].router.routes):
            scope = as_get  # otherwise a 404, or a 405 with its Allow

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_without_body)


def allowed_methods(allow: str) -> str:
    """An `Allow` header value with HEAD wherever GET is (this middleware serves it)."""
    methods = [method.strip() for method in allow.split(",") if method.strip()]
    if "GET" in methods and "HEAD" not in methods:
        methods.append("HEAD")
    return ", ".join(methods)
