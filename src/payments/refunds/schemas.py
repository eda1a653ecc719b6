"""Refund API shapes."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from payments.inputs import WHOLE_NUMBER
from payments.models import RefundStatus
from payments.timestamps import Timestamp


def _no_default(schema: dict[str, Any]) -> None:
    """A field that may be left out but not sent as null shows no `default: null`."""
    schema.pop("default", None)


class AdminReason(StrEnum):
    """The reasons an admin may give: Stripe's own."""

    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Left out means all that remains; an explicit null is refused (422), not read as
    # "everything": a client that lost its amount must not empty the order.
    amount: Annotated[int, Field(strict=True, gt=0, le=10**12), WHOLE_NUMBER] = Field(
        default=None,  # type: ignore[assignment]
        description="Minor units of the order's currency (an integer; `100.0` counts as "
        "`100`); left out: all that remains refundable",
        json_schema_extra=_no_default,
    )
    reason: AdminReason = Field(
        default=None,  # type: ignore[assignment]
        description="Left out: `requested_by_customer`",
        json_schema_extra=_no_default,
    )
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
