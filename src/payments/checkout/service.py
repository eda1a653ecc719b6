"""Starting a checkout and verifying it when the buyer comes back.

The amount always comes from our catalog, never from the client. Stock is
only checked here; it changes when the payment is confirmed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import NoReturn

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from payments.catalog.repository import products_by_id
from payments.checkout.fees import application_fee
from payments.checkout.schemas import CheckoutIn, CheckoutOut, VerifyOut
from payments.config import Settings
from payments.db import Database
from payments.errors import (
    AmountTooLarge,
    CheckoutRefused,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    MixedCurrencies,
    MixedSellers,
    NotFound,
    OutOfStock,
    ProviderError,
    UnknownProduct,
)
from payments.merchant_events import record
from payments.models import ChargeType, ConfirmedVia, Order, OrderItem, OrderStatus, Product, Seller
from payments.orders import paid_at_once, repository
from payments.orders.confirm import Confirmation, Result, confirm_payment
from payments.providers.base import (
    KEY_REUSED,
    CheckoutRequest,
    CreatedCheckout,
    LineItem,
    PaymentProvider,
    PaymentSignal,
    ProviderMisconfigured,
    ProviderRejected,
    ProviderUnavailable,
    Routing,
)

log = structlog.get_logger(__name__)

# Stripe takes at most 8 digits of minor units per payment.
MAX_ORDER_AMOUNT = 99_999_999
PROVIDER_REJECTED = "provider_rejected"
REFUSED_MESSAGE = (
    "the payment provider refused this order (for example, an amount below its minimum "
    "charge or a currency it does not take); retrying will not help"
)
# The buyer paid and the order kept the payment (some of it may have gone back since).
PAID_FOR = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED})
# The provider has the last word on these; asking it again cannot change them.
SETTLED = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.REFUND_PENDING,
        OrderStatus.PARTIALLY_REFUNDED,
        OrderStatus.REFUNDED,
    }
)


@dataclass(frozen=True)
class _Draft:
    """An order as stored, with what a Checkout Session needs to be (re)built from it."""

    order: Order
    items: list[OrderItem]
    seller: Seller | None


async def start_checkout(
    database: Database,
    provider: PaymentProvider,
    settings: Settings,
    body: CheckoutIn,
    idempotency_key: str | None,
) -> CheckoutOut:
    """Create a pending order and its Checkout Session.

    With an `Idempotency-Key`, a retry returns the same order and session and
    creates nothing new; after a provider failure it completes the same order.
    """
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    draft = await _existing(database, idempotency_key, fingerprint) if idempotency_key else None
    if draft is None:
        draft = await _create_order(database, body, idempotency_key, fingerprint)
    if draft.order.provider_session_id and draft.order.checkout_url:
        return _answer(draft.order)
    if draft.order.status != OrderStatus.PENDING:
        # The provider refused this order for good: the same answer, without asking again.
        raise CheckoutRefused(REFUSED_MESSAGE)
    created = await _create_session(
        database, provider, settings, draft, retryable=bool(idempotency_key)
    )
    async with database.transaction() as session:
        stored = await repository.attach_checkout(
            session, draft.order.id, created.session_id, created.url, created.expires_at
        )
    log.info("checkout.started", order_id=str(draft.order.id), session_id=created.session_id)
    return _answer(stored or draft.order)


async def verify_checkout(
    database: Database, provider: PaymentProvider, session_id: str
) -> VerifyOut:
    """The frontend's fast confirmation: ask the provider, then confirm like a webhook would."""
    async with database.reading() as session:
        order = await repository.find_by_session(session, session_id)
    if order is None:
        raise NotFound(f"no checkout session {session_id}")
    status = OrderStatus(order.status)
    if status not in SETTLED:  # a settled order needs no call to the provider
        status = await _confirm_from_provider(database, provider, order) or status
    return VerifyOut(order_id=order.id, status=status, paid=status in PAID_FOR)


async def _confirm_from_provider(
    database: Database, provider: PaymentProvider, order: Order
) -> OrderStatus | None:
    session_id = order.provider_session_id or ""
    try:
        signal = await provider.fetch_checkout(session_id, account=order.provider_account)
    except ProviderRejected as exc:
        log.warning("checkout.verify_refused", order_id=str(order.id), error=str(exc))
        if exc.code == "resource_missing":
            raise NotFound("the payment provider has no such checkout session") from exc
        raise ProviderError("the payment provider refused the request") from exc
    except ProviderUnavailable as exc:
        log.warning("checkout.verify_failed", order_id=str(order.id), error=str(exc))
        raise ProviderError("could not reach the payment provider; try again") from exc
    confirmed = await confirm_signal(database, signal, via=ConfirmedVia.VERIFY)
    return confirmed.status


async def confirm_signal(
    database: Database, signal: PaymentSignal, *, via: ConfirmedVia
) -> Confirmation:
    """Apply what the provider says of a checkout, asked rather than sent (verify,
    reconciliation): the common case in one round trip (`paid_at_once`, nothing to
    record), everything else through `confirm_payment` in a transaction of its own."""
    done = await paid_at_once.confirm_paid(database, signal, via=via)
    if done.status is not None:
        result = Result.PAID if done.paid_now else Result.ALREADY_PROCESSED
        return Confirmation(done.order_id, done.status, result)
    async with database.transaction() as session:
        return await confirm_payment(session, signal, via=via)


def _answer(order: Order) -> CheckoutOut:
    return CheckoutOut(
        order_id=order.id,
        session_id=order.provider_session_id or "",
        checkout_url=order.checkout_url or "",
        status=OrderStatus(order.status),
    )


async def _existing(database: Database, key: str, fingerprint: str) -> _Draft | None:
    async with database.reading() as session:
        order = await repository.find_by_idempotency_key(session, key)
        if order is None:
            return None
        if order.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different request")
        return await _load_draft(session, order)


async def _load_draft(session: AsyncSession, order: Order) -> _Draft:
    items = await repository.items_of(session, order.id)
    seller = await session.get(Seller, order.seller_id) if order.seller_id else None
    return _Draft(order, items, seller)


async def _create_order(
    database: Database, body: CheckoutIn, key: str | None, fingerprint: str
) -> _Draft:
    quantities = Counter[uuid.UUID]()
    for item in body.items:
        quantities[item.product_id] += item.quantity
    async with database.transaction() as session:
        products = await _priced_products(session, quantities)
        seller_id = products[0].seller_id
        seller = await session.get(Seller, seller_id) if seller_id else None
        amount = sum(p.unit_amount * quantities[p.id] for p in products)
        if amount > MAX_ORDER_AMOUNT:
            raise AmountTooLarge(f"the order total {amount} is above {MAX_ORDER_AMOUNT}")
        fee = application_fee(amount, seller.fee_bps) if seller else None
        order = await repository.insert_order(
            session,
            id=uuid.uuid4(),
            seller_id=seller_id,
            charge_type=seller.charge_type if seller else None,
            # A direct charge's session lives on the seller's account.
            provider_account=seller.stripe_account_id
            if seller and seller.charge_type == ChargeType.DIRECT
            else None,
            currency=products[0].currency,
            amount_total=amount,
            application_fee_amount=fee,
            fee_bps=seller.fee_bps if seller else None,
            # A discount would leave the fee fixed above its share: codes only without a fee.
            allow_promotion_codes=fee is None or fee == 0,
            customer_email=body.customer_email,
            idempotency_key=key,
            request_fingerprint=fingerprint,
        )
        if order is not None:
            items = [
                OrderItem(
                    order_id=order.id,
                    product_id=p.id,
                    name=p.name,
                    quantity=quantities[p.id],
                    unit_amount=p.unit_amount,
                )
                for p in products
            ]
            session.add_all(items)
            return _Draft(order, items, seller)
    # A concurrent request with the same key created the order first: use that one.
    draft = await _existing(database, key, fingerprint) if key else None
    if draft is None:
        raise IdempotencyKeyInUse("a request with this Idempotency-Key is in progress")
    return draft


async def _priced_products(session: AsyncSession, quantities: Counter[uuid.UUID]) -> list[Product]:
    """The products of a cart, checked: all exist, one seller, one currency, enough stock."""
    products = await products_by_id(session, quantities)
    missing = set(quantities) - {p.id for p in products}
    if missing:
        raise UnknownProduct(f"items: no product {', '.join(sorted(map(str, missing)))}")
    if len({p.seller_id for p in products}) > 1:
        raise MixedSellers("items: products of different sellers cannot share one order")
    if len({p.currency for p in products}) > 1:
        raise MixedCurrencies("items: products in different currencies cannot share one order")
    for product in products:
        if product.stock is not None and product.stock < quantities[product.id]:
            raise OutOfStock(f"items: only {product.stock} left of product {product.id}")
    return products


async def _create_session(
    database: Database,
    provider: PaymentProvider,
    settings: Settings,
    draft: _Draft,
    *,
    retryable: bool,
) -> CreatedCheckout:
    order, seller = draft.order, draft.seller
    request = CheckoutRequest(
        order_id=order.id,
        currency=order.currency,
        line_items=[LineItem(i.name, i.unit_amount, i.quantity) for i in draft.items],
        success_url=settings.success_url,
        cancel_url=settings.cancel_url,
        # Derived from the order, so a retry can never open a second session.
        idempotency_key=f"checkout-session:{order.id}",
        allow_promotion_codes=order.allow_promotion_codes,
        customer_email=order.customer_email,
        routing=Routing(
            account=seller.stripe_account_id,
            charge_type=seller.charge_type,
            application_fee_amount=order.application_fee_amount or 0,
        )
        if seller
        else None,
    )
    try:
        return await provider.create_checkout(request)
    except ProviderUnavailable as exc:
        if exc.code == "idempotency_key_in_use":  # a concurrent retry is talking to Stripe
            raise IdempotencyKeyInUse(
                "a request for this order is in progress; retry shortly",
                headers={"Retry-After": "1"},
            ) from exc
        error: Exception = exc
    except ProviderMisconfigured as exc:
        # Our key, not this order: once an operator fixes it, a retry finishes the order.
        log.error("checkout.provider_misconfigured", order_id=str(order.id), error=str(exc))
        error = exc
    except ProviderRejected as exc:
        if exc.code != KEY_REUSED:
            await _refused(database, order, exc)
        # The same key with other parameters: another replica (or a release with other
        # settings) is creating or created this order's session. Not a refusal of the order;
        # a retry finds the session once that request stored it.
        error = exc
    log.warning("checkout.provider_failed", order_id=str(order.id), error=str(error))
    if not retryable:
        # Without an Idempotency-Key nobody can come back for this order.
        async with database.transaction() as session:
            if await repository.transition(
                session, Order.id == order.id, OrderStatus.FAILED, cancel_reason="provider_error"
            ):
                record.order_changed(session, order.id, OrderStatus.FAILED)
        raise ProviderError("the payment provider failed; please try again") from error
    raise ProviderError(
        "the payment provider failed; retry with the same Idempotency-Key"
    ) from error


async def _refused(database: Database, order: Order, error: ProviderRejected) -> NoReturn:
    """The provider refused to open a checkout for this order (e.g. an amount below its
    minimum charge): asking again cannot help, so the order ends failed, and a retry
    with the same Idempotency-Key gets the same answer without asking the provider."""
    log.warning("checkout.provider_rejected", order_id=str(order.id), error=str(error))
    async with database.transaction() as session:
        failed = await repository.transition(
            session,
            # Never an order that has a session: a concurrent request stored it, and its
            # buyer may be paying.
            (Order.id == order.id) & Order.provider_session_id.is_(None),
            OrderStatus.FAILED,
            cancel_reason=PROVIDER_REJECTED,
        )
        if failed is not None:
            record.order_changed(session, order.id, OrderStatus.FAILED)
    if failed is None:
        raise ProviderError("the payment provider failed; retry with the same Idempotency-Key")
    raise CheckoutRefused(REFUSED_MESSAGE) from error
