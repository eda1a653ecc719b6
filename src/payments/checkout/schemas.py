"""Checkout API shapes."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from payments.inputs import PLAIN_TEXT, WHOLE_NUMBER
from payments.models import OrderStatus

# email-validator checks the syntax (and says in words what is wrong); no deliverability
# lookup, which would need the network on the request path.
Email = Annotated[EmailStr, PLAIN_TEXT]


class CheckoutItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: uuid.UUID
    quantity: Annotated[int, Field(strict=True, ge=1, le=1000), WHOLE_NUMBER]


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
