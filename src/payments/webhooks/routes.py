"""Webhook endpoints: verify the signature, record and apply the event.

A 2xx means the event is committed. 400 for anything that is not a validly
signed event, 413 for a body over WEBHOOK_MAX_BODY_BYTES (refused by
`BodyLimitMiddleware` before it is read in full), 503 only when the event could
not be recorded (so the provider retries). Nothing is written for a rejected
request. The body is read raw: the signature covers its exact bytes.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from payments.config import Settings
from payments.errors import InvalidWebhook, PayloadTooLarge, ServiceUnavailable, responses
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
_ERRORS = responses(InvalidWebhook, PayloadTooLarge, ServiceUnavailable)


class WebhookAck(BaseModel):
    received: bool
    outcome: str


# The hot path: no dependencies to solve and no model to validate on the way out. What
# the routes need was built at start-up (app.state); the answer is two fixed fields.
_ANSWER = {200: {"model": WebhookAck, "description": "The event is committed."}, **_ERRORS}


@router.post("/stripe", response_class=Response, responses=_ANSWER, openapi_extra=_RAW_BODY)
async def stripe_platform(request: Request) -> Response:
    """Events of the platform account (destination charges, plain payments)."""
    settings: Settings = request.app.state.settings
    return await _receive(request, Endpoint.PLATFORM, settings.webhook_secrets)


@router.post("/stripe/connect", response_class=Response, responses=_ANSWER, openapi_extra=_RAW_BODY)
async def stripe_connect(request: Request) -> Response:
    """Events of connected accounts: direct-charge checkouts complete only here."""
    settings: Settings = request.app.state.settings
    return await _receive(request, Endpoint.CONNECT, settings.connect_webhook_secrets)


async def _receive(request: Request, endpoint: Endpoint, secrets: list[str]) -> Response:
    state = request.app.state
    provider: PaymentProvider = state.provider
    body = await request.body()
    try:
        event = provider.parse_event(body, request.headers, secrets)
    except InvalidEvent as exc:
        raise InvalidWebhook(str(exc)) from None
    outcome = await handle_event(
        state.database,
        event,
        provider=provider.name,
        endpoint=endpoint,
        livemode=state.settings.livemode,
    )
    return Response(_ack(outcome), media_type="application/json")


def _ack(outcome: str) -> bytes:
    return json.dumps({"received": True, "outcome": outcome}, separators=(",", ":")).encode()
