"""Refund API shapes."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from payments.inputs import WHOLE_NUMBER
from payments.models import RefundStatus
from payments.timestamps import Timestamp


class AdminReason(StrEnum):
    """The reasons an admin may give: Stripe's own."""

    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Annotated[int, Field(strict=True, gt=0, le=10**12), WHOLE_NUMBER] | None = Field(
        default=None,
        description="Minor units of the order's currency; default: all that remains refundable",
    )
    reason: AdminReason | None = None
    restock: Annotated[bool, Field(strict=True)] = Field(
        default=False,
        description="Return the order's quantities to stock (once per order, whatever the "
        "number of refunds)",
    )


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    order_id: uuid.UUID
    amount: int = Field(description="Minor units of `currency`")
    currency: str
    status: RefundStatus = Field(
        description="`pending` until the provider confirms it; `failed` and `canceled` gave "
        "nothing back, and their amount is refundable again"
    )
    reason: str | None = Field(
        description="`requested_by_customer`, `duplicate`, `fraudulent`; the service's own "
        "`out_of_stock`, `currency_mismatch`, `amount_mismatch`; null for a refund made "
        "elsewhere without one"
    )
    failure_reason: str | None = Field(
        description="Why a failed or canceled refund gave nothing back (the provider's code)"
    )
    provider_refund_id: str | None
    created_at: Timestamp
    updated_at: Timestamp
