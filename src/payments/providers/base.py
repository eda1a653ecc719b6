"""The small interface between the domain and a payment provider.

The domain speaks in these types only. A provider module (stripe.py now,
PayPal and Square later) translates its SDK's objects into them, so that
`confirm_payment` never learns which provider a payment came from.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    """What a provider's checkout says about the money."""

    PAID = "paid"  # money received (or a free order: nothing to receive)
    PROCESSING = "processing"  # the buyer finished, an async method is still settling
    FAILED = "failed"  # the async method failed
    EXPIRED = "expired"  # the buyer never paid and the checkout closed
    OPEN = "open"  # nothing has happened yet
    NOT_A_PAYMENT = "not_a_payment"  # e.g. setup mode: confirms nothing


@dataclass(frozen=True)
class PaymentSignal:
    """One observation of a checkout, from a webhook or from asking the provider.

    A PAID signal always carries the amount paid (minor units) and its currency
    (lower-case ISO 4217); `payment_id` is None exactly when nothing was charged
    (a free order). The provider refuses to build a PAID signal otherwise.
    """

    session_id: str
    account: str | None  # the connected account the checkout lives on, if any
    outcome: Outcome
    amount_paid: int | None = None
    currency: str | None = None
    payment_id: str | None = None


class RefundState(StrEnum):
    """A refund's state in the domain's words (the provider maps its own onto these)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class RefundSignal:
    """One observation of a refund, from a webhook, from the provider's answer to our
    request, or from listing a payment's refunds.

    `our_refund_id` is the id this service gave the refund (in its metadata), None for a
    refund made elsewhere (the Dashboard).
    """

    refund_id: str
    payment_id: str | None
    account: str | None
    amount: int
    currency: str
    status: RefundState
    reason: str | None = None
    failure_reason: str | None = None
    our_refund_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ChargeRefunds:
    """A payment's refunds in total (Stripe's `charge.refunded`): how much went back, by
    anyone, without saying which refunds; more than we know of means refunds to fetch."""

    payment_id: str
    account: str | None
    amount_refunded: int
    currency: str


@dataclass(frozen=True)
class DisputeSignal:
    """One observation of a dispute (chargeback) on a payment."""

    dispute_id: str
    payment_id: str | None
    account: str | None
    amount: int
    currency: str
    reason: str | None
    status: str
    evidence_due_by: int | None  # unix seconds; None when no response is possible


@dataclass(frozen=True)
class ProviderEvent:
    """A verified event. At most one subject is set: `signal` for a checkout we handle,
    `refund`, `charge_refunds` or `dispute`; none for a type the service does not handle."""

    id: str
    type: str
    account: str | None
    livemode: bool
    signal: PaymentSignal | None
    problem: str | None = None  # why an event of a handled type carries no usable subject
    refund: RefundSignal | None = None
    charge_refunds: ChargeRefunds | None = None
    dispute: DisputeSignal | None = None
    created: int | None = None  # when the provider created the event (unix seconds)


@dataclass(frozen=True)
class LineItem:
    name: str
    unit_amount: int
    quantity: int


@dataclass(frozen=True)
class Routing:
    """Where the money goes for a marketplace seller (Stripe Connect)."""

    account: str
    charge_type: str  # "direct" | "destination"
    application_fee_amount: int


@dataclass(frozen=True)
class CheckoutRequest:
    order_id: uuid.UUID
    currency: str
    line_items: list[LineItem]
    success_url: str
    cancel_url: str
    idempotency_key: str
    allow_promotion_codes: bool  # as decided for the order; sent to the provider as is
    customer_email: str | None = None
    routing: Routing | None = None


@dataclass(frozen=True)
class CreatedCheckout:
    session_id: str
    url: str
    expires_at: int | None = None  # unix seconds: when the checkout closes by itself


@dataclass(frozen=True)
class RefundRequest:
    """Give back `amount` of a payment, or with None whatever remains of it (not refunded
    already, elsewhere too): what the service owes for a payment it could not keep."""

    order_id: uuid.UUID
    # Ours, sent in metadata so its webhooks find the row; None for a refund an earlier
    # release queued (and may have sent) without it: its key must see the same request.
    refund_id: uuid.UUID | None
    payment_id: str
    idempotency_key: str
    reason: str  # ours, e.g. "out_of_stock"; kept in metadata
    amount: int | None = None
    routing: Routing | None = None


class AlreadyRefunded(Exception):
    """The payment has nothing left to refund (given back elsewhere, e.g. in the Dashboard)."""


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered with a transient error: retry."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


# `ProviderRejected.code` when the idempotency key was used before with other parameters:
# another request (a replica, an older release) owns that key; it is not about the order.
KEY_REUSED = "idempotency_key_reused"


class ProviderRejected(Exception):
    """The provider refused the request; retrying the same request will not help."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ProviderMisconfigured(ProviderRejected):
    """The provider refused our credentials (a wrong or revoked key, a missing permission),
    not the request: the same request succeeds once an operator fixes the configuration."""


class InvalidEvent(Exception):
    """A webhook that is unsigned, wrongly signed, stale, or not an event."""


class PaymentProvider(Protocol):
    name: str

    async def create_checkout(self, request: CheckoutRequest) -> CreatedCheckout: ...

    async def fetch_checkout(self, session_id: str, *, account: str | None) -> PaymentSignal: ...

    async def refund(self, request: RefundRequest) -> RefundSignal: ...

    async def list_refunds(self, payment_id: str, *, account: str | None) -> list[RefundSignal]: ...

    def parse_event(
        self, body: bytes, headers: Mapping[str, str], secrets: list[str]
    ) -> ProviderEvent: ...

    async def aclose(self) -> None: ...
