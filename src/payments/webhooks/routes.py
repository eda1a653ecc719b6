"""Webhook endpoints: verify the signature, record and apply the event.

A 2xx means the event is committed. 400 for anything that is not a validly
signed event, 413 for a body over WEBHOOK_MAX_BODY_BYTES (refused by
`BodyLimitMiddleware` before it is read in full), 503 only when the event could
not be recorded (so the provider retries). Nothing is written for a rejected
request. The body is read raw: the signature covers its exact bytes.

They are the hot path, so a POST to either is served by a plain ASGI handler
(`WebhookEndpoints`, the innermost middleware: inside the body limit, the request
id and the last-resort 500) before FastAPI routes it: no router, Request object,
dependencies or response model run per event. They were nearly half of the CPU
an event cost (bench/README.md). FastAPI still declares the two routes, for the
OpenAPI schema and for other methods (405).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from payments.config import Settings
from payments.errors import (
    InvalidWebhook,
    PayloadTooLarge,
    PaymentsError,
    ServiceUnavailable,
    error_response,
    log_database_error,
    responses,
)
from payments.providers.base import InvalidEvent, PaymentProvider
from payments.providers.stripe import EVENT_SCHEMA
from payments.webhooks.events import Endpoint, handle_event

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# The route reads the raw body itself (the signature covers its bytes), so the schema
# of the body and of the signature header is declared here rather than inferred.
_RAW_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "Stripe-Signature",
            "in": "header",
            "required": True,
            "description": "Stripe's signature of the body (`t=...,v1=...`); "
            "a missing, wrong or stale one is a 400.",
            "schema": {"type": "string"},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": EVENT_SCHEMA}},
        "description": "The event exactly as the provider sent it, with its signature header.",
    },
}
_ERRORS = {
    200: {"description": "The event is committed (or was already)."},
    **responses(InvalidWebhook, PayloadTooLarge, ServiceUnavailable),
}


class WebhookAck(BaseModel):
    received: bool
    outcome: str


_ENDPOINTS = {"/webhooks/stripe": Endpoint.PLATFORM, "/webhooks/stripe/connect": Endpoint.CONNECT}


class WebhookEndpoints:
    """Serve POST on the two webhook URLs without the framework; pass the rest on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = _ENDPOINTS.get(scope["path"])
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        try:
            outcome = await _receive(scope, receive, endpoint)
        except PaymentsError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except (DBAPIError, asyncpg.PostgresError) as exc:
            # Outside FastAPI's handlers: say what errors.py says of a statement the
            # database rejects (a bug), then the last-resort handler answers 500.
            log_database_error(exc)
            raise
        answer = json.dumps({"received": True, "outcome": outcome}, separators=(",", ":"))
        await Response(answer, media_type="application/json")(scope, receive, send)


async def _receive(scope: Scope, receive: Receive, endpoint: Endpoint) -> str:
    state = scope["app"].state  # built once at start-up
    settings: Settings = state.settings
    provider: PaymentProvider = state.provider
    secrets = (
        settings.connect_webhook_secrets
        if endpoint is Endpoint.CONNECT
        else settings.webhook_secrets
    )
    body = await _body(receive)
    try:
        event = provider.parse_event(body, Headers(scope=scope), secrets)
    except InvalidEvent as exc:
        raise InvalidWebhook(str(exc)) from None
    return await handle_event(
        state.database, event, provider=provider.name, endpoint=endpoint, livemode=settings.livemode
    )


async def _body(receive: Receive) -> bytes:
    """The whole body; `BodyLimitMiddleware` has bounded it already."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


# What FastAPI documents for each URL: summary, docstring, answers and their model.
# `WebhookEndpoints` serves every POST to them, so these functions are never called.
@router.post("/stripe", response_model=WebhookAck, responses=_ERRORS, openapi_extra=_RAW_BODY)
async def stripe_platform() -> WebhookAck:
    """Events of the platform account (destination charges, plain payments)."""
    raise AssertionError("served by WebhookEndpoints")


@router.post(
    "/stripe/connect", response_model=WebhookAck, responses=_ERRORS, openapi_extra=_RAW_BODY
)
async def stripe_connect() -> WebhookAck:
    """Events of connected accounts: direct-charge checkouts complete only here."""
    raise AssertionError("served by WebhookEndpoints")
