"""Order API shapes: a public view (what the buyer sees) and the admin view."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from payments.checkout.fees import application_fee
from payments.disputes.schemas import DisputeOut
from payments.models import Order, OrderStatus
from payments.refunds.schemas import RefundOut
from payments.refunds.states import COUNTED
from payments.timestamps import Timestamp


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
            amount_refunded=order.amount_refunded,
            cancel_reason=order.cancel_reason,
            items=[PublicOrderItem.model_validate(item) for item in order.items],
        )


class OrderItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: uuid.UUID
    name: str
    quantity: int
    unit_amount: int


class MoneyChecks(BaseModel):
    """The order's money invariants, checked each time it is read (integers, minor units)."""

    refunded_within_paid: bool = Field(
        description="0 <= amount_refunded <= amount_paid (a payment the order refused, with "
        "no amount_paid, may only be refunded)"
    )
    refunds_add_up: bool = Field(
        description="amount_refunded is the sum of the pending and succeeded refunds in "
        "the order's currency"
    )
    paid_as_ordered: bool = Field(
        description="amount_paid, as the provider reported it, is the order's total (or, "
        "with promotion codes, from 0 to it); true before a payment. A payment that "
        "breaks this is never accepted: the order is flagged and the money refunded"
    )
    fee_follows_fee_bps: bool = Field(
        description="application_fee_amount is fee_bps of amount_total rounded half up "
        "(true without a seller)"
    )
    ok: bool = Field(description="All of the above")

    @classmethod
    def of(cls, order: Order) -> MoneyChecks:
        paid, refunded = order.amount_paid, order.amount_refunded
        counted = sum(
            r.amount for r in order.refunds if r.currency == order.currency and r.status in COUNTED
        )
        if paid is None:
            within = refunded == 0 or order.status in _REFUSED_PAYMENT
        else:
            within = 0 <= refunded <= paid
        as_ordered = (
            paid is None
            or paid == order.amount_total
            or (order.allow_promotion_codes and 0 <= paid <= order.amount_total)
        )
        fee = order.application_fee_amount
        fee_ok = (
            fee is None
            if order.fee_bps is None
            else fee == application_fee(order.amount_total, order.fee_bps)
        )
        return cls(
            refunded_within_paid=within,
            refunds_add_up=refunded == counted,
            paid_as_ordered=as_ordered,
            fee_follows_fee_bps=fee_ok,
            ok=within and refunded == counted and as_ordered and fee_ok,
        )


# A payment the order's rules refused: no amount_paid, all of it refunded.
_REFUSED_PAYMENT = frozenset({OrderStatus.REFUND_PENDING, OrderStatus.REFUNDED})


class AdminOrder(OrderAmounts):
    amount_refunded: int = Field(
        description="The pending and succeeded refunds, in `currency`: never above amount_paid"
    )
    seller_id: uuid.UUID | None
    charge_type: str | None
    provider_account: str | None
    application_fee_amount: int | None
    fee_bps: int | None = Field(description="The seller's fee when the order was made")
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
    restocked_at: Timestamp | None = Field(description="When a refund put the items back")
    refunds: list[RefundOut]
    disputes: list[DisputeOut]


class AdminOrderDetail(AdminOrder):
    items: list[OrderItemOut]
    checks: MoneyChecks

    @classmethod
    def of(cls, order: Order) -> AdminOrderDetail:
        """The admin view of an order loaded with its items, refunds and disputes."""
        return cls.model_validate(
            AdminOrder.model_validate(order).model_dump()
            | {
                "items": [OrderItemOut.model_validate(item) for item in order.items],
                "checks": MoneyChecks.of(order),
            }
        )


class OrderList(BaseModel):
    data: list[AdminOrder]
