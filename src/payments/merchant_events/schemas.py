"""Endpoint API shapes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from payments.inputs import PLAIN_TEXT, VISIBLE_TEXT
from payments.merchant_events.types import ALL, EventType
from payments.merchant_events.urls import MAX_LENGTH
from payments.timestamps import Timestamp


def _no_default(schema: dict[str, Any]) -> None:
    """A field that may be left out but not sent as null shows no `default: null`."""
    schema.pop("default", None)


def _event_types(events: list[str]) -> list[str]:
    """Known types, each once; or `["*"]` alone. Said in plain words when it is not."""
    if ALL in events:
        if len(events) > 1:
            raise ValueError('"*" means every event type: list it alone')
        return events
    for event in events:
        if event not in _KNOWN:
            raise ValueError(f"{event!r} is not an event type; they are: {', '.join(_KNOWN)}")
    if len(set(events)) != len(events):
        raise ValueError("each event type may be listed once")
    return events


_KNOWN = [event.value for event in EventType]


Url = Annotated[
    str,
    Field(min_length=1, max_length=MAX_LENGTH, examples=["https://shop.example.com/webhooks"]),
    VISIBLE_TEXT,
]
Events = Annotated[
    list[Annotated[str, PLAIN_TEXT]],
    Field(min_length=1, max_length=len(EventType)),
    AfterValidator(_event_types),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "array",
                    "items": {"type": "string", "enum": _KNOWN},
                    "minItems": 1,
                    "maxItems": len(_KNOWN),
                    "uniqueItems": True,
                },
                {"type": "array", "items": {"const": ALL}, "minItems": 1, "maxItems": 1},
            ],
            "description": 'Event types, each once; or `["*"]`: every type, those added later too',
            "examples": [["order.paid", "order.refunded"], ["*"]],
        }
    ),
]
Description = Annotated[str, Field(max_length=500), PLAIN_TEXT]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    events: Events
    description: Description | None = None


class EndpointPatch(BaseModel):
    """What may change; left out: unchanged."""

    model_config = ConfigDict(extra="forbid")

    # Left out: unchanged; null is refused.
    url: Url = Field(default=None, json_schema_extra=_no_default)  # type: ignore[assignment]
    events: Events = Field(default=None, json_schema_extra=_no_default)  # type: ignore[arg-type]
    description: Description | None = None
    enabled: Annotated[bool, Field(strict=True)] = Field(
        default=None,  # type: ignore[assignment]
        json_schema_extra=_no_default,
        description="false stops new events to it; true enables it again (e.g. after a 410)",
    )


class EndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    enabled: bool = Field(description="Whether new events are sent to it")
    disabled_reason: str | None = Field(
        description="Why it was disabled, e.g. it answered 410 Gone; null when enabled"
    )
    previous_secret_expires_at: Timestamp | None = Field(
        description="Until when the secret before the last rotation still signs deliveries"
    )
    created_at: Timestamp
    updated_at: Timestamp


class EndpointCreated(EndpointOut):
    secret: str = Field(
        description="The signing secret (`whsec_` and base64), shown only now: store it",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret, shown only now")
    previous_secret_expires_at: Timestamp = Field(
        description="Until then deliveries carry a signature by the previous secret too"
    )


class EndpointList(BaseModel):
    data: list[EndpointOut]
