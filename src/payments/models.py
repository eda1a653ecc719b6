"""ORM tables.

Money is integer minor units plus an ISO 4217 currency. Statuses are strings
guarded by CHECK constraints; which transitions are allowed lives in
`payments.orders.states`, and every transition is a conditional UPDATE.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class touched(FunctionElement[datetime]):
    """The `updated_at` of a row being changed: now, and always after its previous value.

    The shop orders the events it receives by `updated_at` (payments.merchant_events), so
    it must grow with every change of a row. now() alone is when the transaction began: one
    that began earlier but waited for the row's lock would write an older time than the
    change it waited for. On SQLite (the sandbox, one writer) it is the clock, to the
    millisecond, and never goes back.
    """

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(touched, "postgresql")
def _touched_postgres(element: touched, compiler: SQLCompiler, **kw: Any) -> str:
    return f"greatest(now(), {compiler.process(element.clauses, **kw)} + interval '1 microsecond')"


@compiles(touched)
def _touched(element: touched, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite: its clock to the millisecond, in the format SQLAlchemy stores (microseconds),
    # never before the previous value (one writer at a time: the sandbox).
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
    return f"max({now}, coalesce({compiler.process(element.clauses, **kw)}, ''))"


# For changes that do not set `updated_at` themselves.
_TOUCHED = touched(text("updated_at"))


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class ChargeType(StrEnum):
    """How a seller's money moves with Stripe Connect."""

    DIRECT = "direct"  # the charge (and Checkout Session) lives on the connected account
    DESTINATION = "destination"  # the charge lives on the platform and is transferred


class OrderStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUND_PENDING = "refund_pending"  # a payment the order could not keep: all of it goes back
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class RefundStatus(StrEnum):
    """Stripe's refund states (`requires_action` counts as pending). Pending and succeeded
    refunds count against what remains refundable; failed and canceled ones gave nothing back."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class RefundReason(StrEnum):
    """Why money went back: the first three are Stripe's and an admin may choose them; the
    service gives back a payment it could not keep for the rest; a refund made elsewhere
    (the Dashboard) may have none."""

    REQUESTED_BY_CUSTOMER = "requested_by_customer"
    DUPLICATE = "duplicate"
    FRAUDULENT = "fraudulent"
    OUT_OF_STOCK = "out_of_stock"
    CURRENCY_MISMATCH = "currency_mismatch"
    AMOUNT_MISMATCH = "amount_mismatch"


class ReviewReason(StrEnum):
    """Why an order waits for a human: a payment its rules do not allow arrived for it, or
    Stripe refused its refund (the outbox keeps retrying; someone must see why it fails)."""

    CURRENCY_MISMATCH = "currency_mismatch"
    AMOUNT_MISMATCH = "amount_mismatch"
    REFUND_FAILED = "refund_failed"


class ConfirmedVia(StrEnum):
    WEBHOOK = "webhook"
    VERIFY = "verify"


class Seller(Base):
    __tablename__ = "sellers"
    __table_args__ = (
        CheckConstraint(_in("charge_type", ChargeType), name="charge_type"),
        CheckConstraint("fee_bps BETWEEN 0 AND 10000", name="fee_bps"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    stripe_account_id: Mapped[str] = mapped_column(String(64), unique=True)
    charge_type: Mapped[str] = mapped_column(String(16))
    fee_bps: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("unit_amount >= 0", name="unit_amount"),
        # The last line of defence: stock can never go negative, whatever the code does.
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    seller_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sellers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in("status", OrderStatus), name="status"),
        CheckConstraint(
            "confirmed_via IS NULL OR " + _in("confirmed_via", ConfirmedVia), name="confirmed_via"
        ),
        CheckConstraint("amount_total >= 0", name="amount_total"),
        CheckConstraint(
            "review_reason IS NULL OR " + _in("review_reason", ReviewReason), name="review_reason"
        ),
        # The money invariant, kept by the database whatever the code does: never more
        # refunded than paid (refunds of a refused payment, with no amount_paid, aside).
        CheckConstraint(
            "amount_refunded >= 0 AND (amount_paid IS NULL OR amount_refunded <= amount_paid)",
            name="amount_refunded",
        ),
        Index("ix_orders_status_created_at", "status", "created_at"),
        Index("ix_orders_created_at", "created_at"),
        # Refund and dispute events name the payment, not the checkout.
        Index("ix_orders_provider_payment_id", "provider_payment_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.PENDING)
    seller_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sellers.id"), index=True)
    charge_type: Mapped[str | None] = mapped_column(String(16))
    # The connected account the Checkout Session lives on (direct charges), else None.
    provider_account: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    amount_total: Mapped[int] = mapped_column(BigInteger)
    application_fee_amount: Mapped[int | None] = mapped_column(BigInteger)
    # The seller's fee when the order was made, so the fee can be checked against it later.
    fee_bps: Mapped[int | None] = mapped_column(Integer)
    # Whether the buyer may enter promotion codes, as sent to Stripe: only when no fee is
    # taken, because Stripe fixes the fee when the session is created (see application_fee).
    allow_promotion_codes: Mapped[bool] = mapped_column(Boolean)
    # What the buyer paid, in `currency`; set when the payment is confirmed.
    amount_paid: Mapped[int | None] = mapped_column(BigInteger)
    # The pending and succeeded refunds in `currency`, kept in step with them in the same
    # transactions (payments.refunds.repository), so a guarded UPDATE can check what remains.
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # When the buyer's checkout closes by itself at the provider (reconciliation asks then).
    checkout_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When a refund asked for the order's quantities back in stock; at most once.
    restocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    provider_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    provider_payment_id: Mapped[str | None] = mapped_column(String(255))
    confirmed_via: Mapped[str | None] = mapped_column(String(16))
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    # Set once, when a payment the order's rules do not allow arrives or Stripe refuses the
    # order's refund: a human must look.
    review_reason: Mapped[str | None] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp(), onupdate=_TOUCHED
    )
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    items: Mapped[list[OrderItem]] = relationship(lazy="raise", order_by="OrderItem.product_id")
    refunds: Mapped[list[Refund]] = relationship(
        lazy="raise", order_by="(Refund.created_at, Refund.id)"
    )
    disputes: Mapped[list[Dispute]] = relationship(
        lazy="raise", order_by="(Dispute.created_at, Dispute.id)"
    )


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id"), primary_key=True, index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_amount: Mapped[int] = mapped_column(BigInteger)  # the price when the order was made


class Refund(Base):
    """Money given back on an order's payment, once per provider refund.

    Made by the admin API (with its `Idempotency-Key`), by the service for a payment it
    could not keep, or seen in a webhook for a refund made elsewhere. Its status only
    moves forward (`payments.refunds.states`).
    """

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(_in("status", RefundStatus), name="status"),
        CheckConstraint("amount >= 0", name="amount"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    restock: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Set (once) just before the outbox asks the provider: until then the refund can be
    # canceled without asking anyone (payments.refunds.service.make_room).
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp(), onupdate=_TOUCHED
    )


class Dispute(Base):
    """A chargeback on an order's payment, once per provider dispute; its status only moves
    forward (`payments.disputes.states`). It never changes the order's status or stock."""

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_disputes_status_evidence_due_by", "status", "evidence_due_by"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    provider_dispute_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    evidence_due_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp(), onupdate=_TOUCHED
    )


class WebhookEvent(Base):
    """Every validly signed event, once: the primary key turns a redelivery into a no-op."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index(
            "ix_webhook_events_unknown_payment",
            "payment_id",
            postgresql_where=text("outcome = 'unknown_payment'"),
            sqlite_where=text("outcome = 'unknown_payment'"),
        ),
    )

    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(100))
    account: Mapped[str | None] = mapped_column(String(64))
    livemode: Mapped[bool] = mapped_column(Boolean)
    outcome: Mapped[str] = mapped_column(String(32))
    # The payment a refund or dispute event named when no order had it (`unknown_payment`,
    # e.g. it came before the payment's own event): reconciliation applies it once one does.
    payment_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )


class OutboxMessage(Base):
    """A call to the outside world that a committed state change owes.

    Written in the same transaction as the change; a worker sends it after the
    commit and retries until the provider accepts it (the idempotency key makes
    a retry harmless).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            postgresql_where=text("done_at IS NULL"),
            sqlite_where=text("done_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    # How many times a worker claimed it. The latest claim's number is that claim's token:
    # only the worker holding it may finish or reschedule the message (see outbox._claim).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )


class DeliveryStatus(StrEnum):
    """Where one event's delivery to one endpoint stands (payments.merchant_webhooks)."""

    PENDING = "pending"  # not tried yet
    FAILED = "failed"  # the last attempt failed; another is scheduled
    SUCCEEDED = "succeeded"  # the endpoint answered 2xx
    DEAD = "dead"  # out of attempts (or the endpoint went away); an admin may retry it


class WebhookEndpoint(Base):
    """A URL of the shop's that is sent signed events (Standard Webhooks).

    The secret signs every delivery; after a rotation the previous one signs alongside
    it until `previous_secret_expires_at`. A disabled endpoint (it answered 410 Gone) or
    a deleted one gets no new deliveries; deleted ones stay for their delivery history.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(500))
    # Event types it receives, or ["*"] for all of them.
    events: Mapped[list[str]] = mapped_column(JsonDoc)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp(), onupdate=func.now()
    )

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


class MerchantEvent(Base):
    """One change the shop is told about, written in the transaction that made the change.

    `data` is the body's `data`: the admin JSON of the object after the change, as sent.
    The one-statement payment path (orders.paid_at_once) cannot render it in Python, so it
    stores the rows it changed in `snapshot` and the sender renders `data` from them.
    """

    __tablename__ = "merchant_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # evt_..., the webhook-id
    type: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id"), index=True)
    data: Mapped[str | None] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )


class EventDelivery(Base):
    """One event on its way to one endpoint: retried on a schedule until it succeeds or
    dies. A claim (`claim`) is a lease, as in the outbox: only its holder records the
    outcome."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DeliveryStatus), name="status"),
        Index("uq_event_deliveries_event_endpoint", "event_id", "endpoint_id", unique=True),
        # Only pending and failed deliveries have a next attempt; a predicate without
        # parameters, so that the claim's `next_attempt_at <= now()` proves it.
        Index(
            "ix_event_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("next_attempt_at IS NOT NULL"),
            sqlite_where=text("next_attempt_at IS NOT NULL"),
        ),
        Index("ix_event_deliveries_endpoint_id_created_at", "endpoint_id", "created_at"),
        Index("ix_event_deliveries_status_created_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_id: Mapped[str] = mapped_column(ForeignKey("merchant_events.id"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id"))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    # Attempts in the current round of the schedule (an admin's retry starts a new round).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claim: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # When it is due (or its claim's lease ends); null once it succeeded or died.
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.current_timestamp(), onupdate=func.now()
    )


class DeliveryAttempt(Base):
    """One POST of a delivery and what came of it."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("event_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
