"""Checkout API shapes."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from payments.models import OrderStatus

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]


class CheckoutItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID
    quantity: Annotated[int, Field(strict=True, ge=1, le=1000)]


class CheckoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[CheckoutItem], Field(min_length=1, max_length=100)]
    customer_email: Email | None = None


class CheckoutOut(BaseModel):
    order_id: uuid.UUID
    session_id: str
    checkout_url: str
    status: OrderStatus


class VerifyOut(BaseModel):
    order_id: uuid.UUID
    status: OrderStatus
    paid: bool
