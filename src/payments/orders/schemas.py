"""Order API shapes: a public view (status and amounts only) and the admin view."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from payments.models import OrderStatus


class PublicOrder(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: OrderStatus
    amount_total: int
    amount_paid: int | None
    currency: str


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider_refund_id: str | None
    amount: int
    currency: str
    reason: str
    status: str
    created_at: datetime


class OrderItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    name: str
    quantity: int
    unit_amount: int


class AdminOrder(PublicOrder):
    seller_id: uuid.UUID | None
    charge_type: str | None
    provider_account: str | None
    application_fee_amount: int | None
    allow_promotion_codes: bool
    customer_email: str | None
    confirmed_via: str | None
    provider_session_id: str | None
    provider_payment_id: str | None
    cancel_reason: str | None
    review_reason: str | None  # set when a payment the order's rules refuse arrived: look
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    refunds: list[RefundOut]


class AdminOrderDetail(AdminOrder):
    items: list[OrderItemOut]


class OrderList(BaseModel):
    data: list[AdminOrder]
