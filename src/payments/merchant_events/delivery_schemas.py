"""Delivery API shapes: where each event went, and what came of each attempt."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from payments.models import DeliveryAttempt, DeliveryStatus, EventDelivery
from payments.timestamps import Timestamp


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: Timestamp
    status_code: int | None = Field(description="The endpoint's answer; null when there was none")
    duration_ms: int
    error: str | None = Field(
        description="Why it failed (a status code, a timeout, a refused address); null on success"
    )


class DeliveryOut(BaseModel):
    id: uuid.UUID
    event_id: str = Field(
        description="The event's id: the body's `id` and the `webhook-id` of every attempt",
        examples=["evt_4f6a0c0e9b2d4f1e8a7b6c5d4e3f2a1b"],
    )
    event_type: str = Field(examples=["order.paid"])
    endpoint_id: uuid.UUID
    status: DeliveryStatus = Field(
        description="`pending` (not tried yet), `failed` (tried again at `next_attempt_at`), "
        "`succeeded` (a 2xx), `dead` (out of attempts, or its endpoint answered 410, was "
        "disabled or deleted; an admin may retry it)"
    )
    attempts: int = Field(description="Attempts since it was created or last retried by an admin")
    last_status_code: int | None
    last_duration_ms: int | None
    last_error: str | None
    last_attempt_at: Timestamp | None
    next_attempt_at: Timestamp | None = Field(description="Null unless pending or failed")
    delivered_at: Timestamp | None
    created_at: Timestamp

    @classmethod
    def of(cls, delivery: EventDelivery, event_type: str, **more: Any) -> Self:
        is_open = delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
        return cls.model_validate(
            {
                "id": delivery.id,
                "event_id": delivery.event_id,
                "event_type": event_type,
                "endpoint_id": delivery.endpoint_id,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "last_status_code": delivery.last_status_code,
                "last_duration_ms": delivery.last_duration_ms,
                "last_error": delivery.last_error,
                "last_attempt_at": delivery.last_attempt_at,
                "next_attempt_at": delivery.next_attempt_at if is_open else None,
                "delivered_at": delivery.delivered_at,
                "created_at": delivery.created_at,
                **more,
            }
        )


class DeliveryDetail(DeliveryOut):
    history: list[AttemptOut] = Field(description="Every attempt, newest first")

    @classmethod
    def with_history(
        cls, delivery: EventDelivery, event_type: str, attempts: Sequence[DeliveryAttempt]
    ) -> Self:
        return cls.of(
            delivery, event_type, history=[AttemptOut.model_validate(a) for a in attempts]
        )


class DeliveryList(BaseModel):
    data: list[DeliveryOut] = Field(description="Newest first")
