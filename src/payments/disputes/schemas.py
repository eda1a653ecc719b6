"""Dispute API shapes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from payments.timestamps import Timestamp


class DisputeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    order_id: uuid.UUID
    provider_dispute_id: str
    amount: int = Field(description="Minor units of `currency`")
    currency: str
    reason: str | None = Field(examples=["fraudulent", "product_not_received"])
    status: str = Field(
        description="The provider's: `needs_response`, `under_review`, `won`, `lost`, "
        "`warning_needs_response`, ...; it only moves forward, and a closed one stays closed",
        examples=["needs_response"],
    )
    evidence_due_by: Timestamp | None = Field(
        description="When the evidence must be in; null when no response is possible"
    )
    created_at: Timestamp
    updated_at: Timestamp


class DisputeList(BaseModel):
    data: list[DisputeOut]
