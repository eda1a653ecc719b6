"""Order API shapes: a public view (what the buyer sees) and the admin view."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from payments.models import Order, OrderStatus, Refund
from payments.timestamps import Timestamp

# Refunds in these states gave nothing back (Stripe's names); every other one counts.
_UNREFUNDED = frozenset({"failed", "canceled"})


class OrderAmounts(BaseModel):
    """What both views share: the status and the money, in minor units of `currency`."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: OrderStatus
    amount_total: int = Field(description="The order's price in minor units (cents for usd)")
    amount_paid: int | None = Field(
        description="What the buyer paid, once paid (0 for a free order); null before"
    )
    currency: str = Field(description="ISO 4217 code, lower case", examples=["usd"])


class PublicOrderItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    quantity: int
    unit_amount: int = Field(description="The price of one unit when the order was made")


class PublicOrder(OrderAmounts):
    """The buyer's view, for a receipt or success page: no emails, accounts or provider ids."""

    amount_refunded: int = Field(
        description="Given back to the buyer so far, in `currency` (0 if nothing)"
    )
    cancel_reason: str | None = Field(
        description="Why the order was not fulfilled, e.g. `out_of_stock`; null otherwise",
        examples=["out_of_stock"],
    )
    items: list[PublicOrderItem]

    @classmethod
    def of(cls, order: Order) -> PublicOrder:
        """The public view of an order loaded with its items and refunds."""
        return cls(
            id=order.id,
            status=OrderStatus(order.status),
            amount_total=order.amount_total,
            amount_paid=order.amount_paid,
            currency=order.currency,
            amount_refunded=_refunded_in(order.currency, order.refunds),
            cancel_reason=order.cancel_reason,
            items=[PublicOrderItem.model_validate(item) for item in order.items],
        )


def _refunded_in(currency: str, refunds: list[Refund]) -> int:
    """What the refunds gave back in the order's currency. A refund in another currency
    only follows a payment made in it (a currency mismatch, flagged): adding it here would
    mislabel it, so the receipt leaves it out and the admin view lists it as it is."""
    return sum(r.amount for r in refunds if r.currency == currency and r.status not in _UNREFUNDED)


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider_refund_id: str | None
    amount: int
    currency: str
    reason: str
    status: str
    created_at: Timestamp


class OrderItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    name: str
    quantity: int
    unit_amount: int


class AdminOrder(OrderAmounts):
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
    created_at: Timestamp
    updated_at: Timestamp
    paid_at: Timestamp | None
    refunds: list[RefundOut]


class AdminOrderDetail(AdminOrder):
    items: list[OrderItemOut]


class OrderList(BaseModel):
    data: list[AdminOrder]
