"""Webhook endpoints: verify the signature, record and apply the event.

A 2xx means the event is committed. 400 for anything that is not a validly
signed event, 413 for a body over WEBHOOK_MAX_BODY_BYTES (refused by
`BodyLimitMiddleware` before it is read in full), 503 only when the event could
not be recorded (so the provider retries). Nothing is written for a rejected
request. The body is read raw: the signature covers its exact bytes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from payments.config import Settings
from payments.db import Database
from payments.deps import DatabaseDep, ProviderDep, SettingsDep
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


@router.post("/stripe", response_model=WebhookAck, responses=_ERRORS, openapi_extra=_RAW_BODY)
async def stripe_platform(
    request: Request, database: DatabaseDep, provider: ProviderDep, settings: SettingsDep
) -> WebhookAck:
    """Events of the platform account (destination charges, plain payments)."""
    return await _receive(
        request, database, provider, settings, Endpoint.PLATFORM, settings.webhook_secrets
    )


@router.post(
    "/stripe/connect", response_model=WebhookAck, responses=_ERRORS, openapi_extra=_RAW_BODY
)
async def stripe_connect(
    request: Request, database: DatabaseDep, provider: ProviderDep, settings: SettingsDep
) -> WebhookAck:
    """Events of connected accounts: direct-charge checkouts complete only here."""
    return await _receive(
        request, database, provider, settings, Endpoint.CONNECT, settings.connect_webhook_secrets
    )


async def _receive(
    request: Request,
    database: Database,
    provider: PaymentProvider,
    settings: Settings,
    endpoint: Endpoint,
    secrets: list[str],
) -> WebhookAck:
    body = await request.body()
    try:
        event = provider.parse_event(body, request.headers, secrets)
    except InvalidEvent as exc:
        raise InvalidWebhook(str(exc)) from None
    outcome = await handle_event(
        database, event, provider=provider.name, endpoint=endpoint, livemode=settings.livemode
    )
    return WebhookAck(received=True, outcome=outcome)
