"""Structured logs: dotted event names with keyword fields, one request id per request.

Never log a payload, a secret or card data: log ids and outcomes.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Literal, TextIO

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def configure_logging(
    fmt: Literal["json", "console"] | None = None,
    level: str = "INFO",
    *,
    file: TextIO | None = None,
) -> None:
    """Log lines to stdout (or `file`, e.g. stderr for a command whose stdout is its
    answer); without `fmt` (LOG_FORMAT), readable lines for a person at a terminal and
    JSON lines for everything else (a pipe, a file, a log collector)."""
    out = file or sys.stdout
    if fmt is None:
        fmt = "console" if out.isatty() else "json"
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file),
        cache_logger_on_first_use=True,
    )


# What a caller's X-Request-ID may be: the characters of UUIDs, `req_...` ids, W3C trace
# ids and base64url, and nothing that needs escaping where the id goes (a response
# header, a JSON or console log line, an HTML page, a terminal): no space, quote, angle
# bracket, backslash, `=` or `;`, and no byte outside ASCII. Checked on the raw bytes.
_CALLER_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")


class RequestIdMiddleware:
    """Bind a request id (the caller's `X-Request-ID`, or a new one) to every log line.

    A caller's id is kept only if it is 1-64 of the characters above; anything else
    (spaces, markup, non-ASCII bytes) gets a fresh id, so what is echoed and logged
    is always exactly the bytes it was given, or ours.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"")
        request_id = given.decode("ascii") if _CALLER_ID.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
