"""Request bodies: bounded before anything reads them, and JSON with plain errors.

`BodyLimitMiddleware` holds at most the limit in memory: a larger body is refused
with 413 (by its `Content-Length` at once, or once the streamed bytes pass the
limit) and the route never runs. `JsonBodyRoute` is the route class of every
router whose routes take a JSON body: it answers 415 for a body not sent as
JSON and 400 for one that is not JSON, saying what is wrong and where, before
FastAPI parses it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payments import strict_json
from payments.config import Settings
from payments.errors import InvalidJson, PayloadTooLarge, UnsupportedMediaType, error_response

WEBHOOK_PATHS = "/webhooks/"


class BodyLimitMiddleware:
    """Refuse bodies over `MAX_BODY_BYTES` (`WEBHOOK_MAX_BODY_BYTES` on webhooks) with 413.

    The body is read here, up to the limit, and handed on unchanged: the app
    never sees a partial body, and never more than the limit is held.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings: Settings = scope["app"].state.settings
        limit = (
            settings.webhook_max_body_bytes
            if scope["path"].startswith(WEBHOOK_PATHS)
            else settings.max_body_bytes
        )
        too_large = PayloadTooLarge(f"the body is larger than {limit} bytes")
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await error_response(too_large)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await error_response(too_large)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hand the body that was read once, then the client's own messages (disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class JsonBodyRoute(APIRoute):
    """A route that refuses a body that is not JSON, with the service's errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            await check_json_body(request)
            return await handler(request)

        return checked


async def check_json_body(request: Request) -> None:
    """Raise unless the body is sent as JSON and is JSON (an empty body is left to validation).

    Parsing once here costs a few microseconds for bodies this small, and lets the
    error say what is wrong in words instead of FastAPI's generic 400. What is not
    JSON by RFC 8259 (`NaN`, `Infinity`) or cannot be read (an integer of thousands
    of digits) is refused here too, so it never reaches validation.
    """
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType("send the body as JSON, with Content-Type: application/json")
    body = await request.body()
    if not body:
        return
    try:
        strict_json.loads(body)
    except strict_json.NotJson as exc:
        raise InvalidJson(f"the body {exc}") from None


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
