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


@dataclass(frozen=True)
class ProviderEvent:
    """A verified webhook event; `signal` is set when it is about a checkout we handle."""

    id: str
    type: str
    account: str | None
    livemode: bool
    signal: PaymentSignal | None
    problem: str | None = None  # why a checkout event carries no usable signal


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


@dataclass(frozen=True)
class RefundRequest:
    """Give back what remains of a payment: whatever was not refunded already, elsewhere too."""

    order_id: uuid.UUID
    payment_id: str
    idempotency_key: str
    reason: str  # ours, e.g. "out_of_stock"; kept in metadata
    routing: Routing | None = None


@dataclass(frozen=True)
class RefundResult:
    """A refund as the provider reports it.

    Without a `refund_id`, the payment had been refunded in full outside this service
    (e.g. in the Dashboard); `amount` and `currency` are then what the provider holds as
    refunded on it, by anyone.
    """

    refund_id: str | None
    amount: int
    currency: str
    status: str


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

    async def refund(self, request: RefundRequest) -> RefundResult: ...

    def parse_event(
        self, body: bytes, headers: Mapping[str, str], secrets: list[str]
    ) -> ProviderEvent: ...

    async def aclose(self) -> None: ...
