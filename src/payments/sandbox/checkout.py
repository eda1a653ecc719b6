"""Checkout Sessions: creation with Stripe's validation, and the buyer's side of the flow.

Only `mode=payment` is modelled. A session starts `open`/`unpaid`; what the buyer
does next (pay by card, use a 100% promotion code, pay by a delayed method, or
walk away) is driven from Python through the lifecycle functions below, each of
which records the event Stripe would send for that transition.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from payments.sandbox import objects
from payments.sandbox.errors import invalid_request, missing_param
from payments.sandbox.events import emit
from payments.sandbox.ids import new_id
from payments.sandbox.params import (
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_metadata,
    as_str,
    get_path,
    require,
    required_int,
    required_str,
)
from payments.sandbox.store import Account, AnyAccount, LineItem, SessionPlan, Store

Outcome = Literal["paid", "free", "async"]
FreePaymentStatus = Literal["no_payment_required", "paid"]

SUPPORTED_MODES = ("payment",)
KNOWN_MODES = ("payment", "setup", "subscription")
MIN_EXPIRY_SECONDS = 30 * 60
MAX_EXPIRY_SECONDS = 24 * 60 * 60
PROMOTION_CODES_NOT_ALLOWED = "This checkout does not accept promotion codes."
FEE_NEEDS_CONNECT = (
    "Can only apply an application_fee_amount when the PaymentIntent is attempting a direct "
    "payment (using an OAuth key or Stripe-Account header) or destination payment (using "
    "`transfer_data[destination]`)."
)


class PromotionCodesNotAllowed(ValueError):
    """Like Stripe, a session created without `allow_promotion_codes` takes no code."""

    def __init__(self) -> None:
        super().__init__(PROMOTION_CODES_NOT_ALLOWED)


def create_session(
    store: Store, params: dict[str, Any], *, account: Account, base_url: str
) -> dict[str, Any]:
    """Validate like Stripe, then store an open session and what to create on payment."""
    spec, line_items = _session_spec(params)
    plan = _payment_plan(
        params,
        account=account,
        amount_total=spec.amount_subtotal,
        base_url=base_url,
        line_items=line_items,
    )
    session_id = new_id("cs_live" if store.livemode else "cs_test", 58)
    session = objects.checkout_session(
        spec,
        session_id=session_id,
        url=f"{base_url}/c/pay/{session_id}",
        created=int(time.time()),
        livemode=store.livemode,
    )
    with store.lock:
        store.put(session, account)
        store.set_plan(session_id, plan)
    return session


def expire(
    store: Store,
    session_id: str,
    account: AnyAccount,
    *,
    request: tuple[str, str | None] | None = None,
) -> dict[str, Any]:
    """Close an open session: the API call (`request` = its id and key) or the timeout."""
    with store.lock:
        session, owner = _session(store, session_id, account)
        if session["status"] != "open":
            raise invalid_request(
                "Only Checkout Sessions with a status of `open` can be expired. "
                f"This Checkout Session has a status of `{session['status']}`."
            )
        session.update(status="expired", url=None)
        emit(store, "checkout.session.expired", session, account=owner, request=request)
        return session


def complete(
    store: Store,
    session_id: str,
    outcome: Outcome,
    free_payment_status: FreePaymentStatus = "no_payment_required",
) -> dict[str, Any]:
    """The buyer finished Checkout; records `checkout.session.completed`.

    "free" is a 100% promotion code, so it needs a session created with
    `allow_promotion_codes` (PromotionCodesNotAllowed otherwise, nothing changed).
    """
    if outcome not in ("paid", "free", "async"):
        raise ValueError(f"unknown outcome {outcome!r}")
    with store.lock:
        session, owner = _session(store, session_id, ...)
        if session["status"] != "open":
            raise ValueError(f"session {session_id} is {session['status']}, not open")
        if outcome == "free" and session["allow_promotion_codes"] is not True:
            raise PromotionCodesNotAllowed
        session.update(
            status="complete",
            url=None,
            customer_details=objects.customer_details(
                session["customer_email"] or "buyer@example.com"
            ),
        )
        if outcome == "paid":
            intent = _create_intent(store, session, owner, status="succeeded", method="card")
            _create_charge(store, intent, owner, session)
            session.update(payment_status="paid", payment_intent=intent["id"])
        elif outcome == "async":
            intent = _create_intent(
                store, session, owner, status="processing", method="us_bank_account"
            )
            session.update(payment_status="unpaid", payment_intent=intent["id"])
        else:
            subtotal = session["amount_subtotal"]
            session.update(
                amount_total=0,
                payment_status=free_payment_status,
                total_details=dict(session["total_details"], amount_discount=subtotal),
                discounts=[{"coupon": None, "promotion_code": new_id("promo")}],
            )
        emit(store, "checkout.session.completed", session, account=owner)
        return session


def succeed_async(store: Store, session_id: str) -> dict[str, Any]:
    """The delayed payment cleared: PaymentIntent succeeds with a charge, session is paid."""
    with store.lock:
        session, owner, intent = _processing(store, session_id)
        intent.update(status="succeeded", amount_received=intent["amount"])
        _create_charge(store, intent, owner, session)
        session["payment_status"] = "paid"
        emit(store, "checkout.session.async_payment_succeeded", session, account=owner)
        return session


def fail_async(store: Store, session_id: str) -> dict[str, Any]:
    """The delayed payment failed: session stays unpaid, PaymentIntent wants a new method."""
    with store.lock:
        session, owner, intent = _processing(store, session_id)
        intent.update(
            status="requires_payment_method",
            last_payment_error={
                "type": "invalid_request_error",
                "code": "payment_method_provider_decline",
                "message": "The customer's bank declined the debit.",
            },
        )
        emit(store, "checkout.session.async_payment_failed", session, account=owner)
        return session


def _session(store: Store, session_id: str, account: AnyAccount) -> tuple[dict[str, Any], Account]:
    """The live session and its owner; `...` searches every account (Python helpers only)."""
    if account is ...:
        stored = store.lookup(session_id)
        if stored is None or stored.obj["object"] != "checkout.session":
            raise KeyError(f"no checkout.session {session_id}")
        return stored.obj, stored.account
    return store.fetch("checkout.session", session_id, account), account


def _processing(store: Store, session_id: str) -> tuple[dict[str, Any], Account, dict[str, Any]]:
    session, owner = _session(store, session_id, ...)
    intent_id = session["payment_intent"]
    stored = store.lookup(intent_id) if intent_id else None
    if stored is None or stored.obj["status"] != "processing":
        raise ValueError(f"session {session_id} has no processing delayed payment")
    return session, owner, stored.obj


def _create_intent(
    store: Store, session: dict[str, Any], owner: Account, *, status: str, method: str
) -> dict[str, Any]:
    plan = store.plan(session["id"])
    intent = objects.payment_intent(
        intent_id=new_id("pi"),
        amount=session["amount_total"],
        currency=session["currency"],
        status=status,
        payment_method_type=method,
        application_fee_amount=plan.application_fee_amount,
        transfer_destination=plan.transfer_destination,
        metadata=dict(plan.payment_intent_metadata),
        description=plan.description,
        customer=session["customer"],
        created=int(time.time()),
        livemode=store.livemode,
    )
    intent["payment_method"] = new_id("pm")
    store.put(intent, owner)
    return intent


def _create_charge(
    store: Store, intent: dict[str, Any], owner: Account, session: dict[str, Any]
) -> dict[str, Any]:
    charge_id = new_id("ch")
    method = intent["payment_method_types"][0]
    details = (
        objects.card_details(intent["amount"]) if method == "card" else objects.bank_debit_details()
    )
    charge = objects.charge(
        intent,
        charge_id=charge_id,
        payment_method=intent["payment_method"],
        method_details=details,
        billing_email=session["customer_details"]["email"],
        receipt_url=f"{store.plan(session['id']).base_url}/receipts/payment/{charge_id}",
        created=int(time.time()),
    )
    store.put(charge, owner)
    intent["latest_charge"] = charge_id
    return charge


def _session_spec(params: dict[str, Any]) -> tuple[objects.SessionSpec, tuple[LineItem, ...]]:
    mode = required_str(params.get("mode"), "mode")
    if mode not in KNOWN_MODES:
        raise invalid_request(
            f"Invalid mode: must be one of {', '.join(KNOWN_MODES)}", param="mode"
        )
    if mode not in SUPPORTED_MODES:
        raise invalid_request(
            f"The sandbox supports only mode=payment Checkout Sessions; got mode={mode}.",
            param="mode",
        )
    line_items = _line_items(params.get("line_items"))
    currency = line_items[0].currency
    success_url = required_str(params.get("success_url"), "success_url")
    spec = objects.SessionSpec(
        mode=mode,
        currency=currency,
        amount_subtotal=sum(item.amount for item in line_items),
        success_url=success_url,
        cancel_url=as_str(params.get("cancel_url"), "cancel_url"),
        customer=as_str(params.get("customer"), "customer"),
        customer_email=as_str(params.get("customer_email"), "customer_email"),
        client_reference_id=as_str(params.get("client_reference_id"), "client_reference_id"),
        metadata=as_metadata(params.get("metadata")),
        locale=as_str(params.get("locale"), "locale"),
        allow_promotion_codes=as_bool(params.get("allow_promotion_codes"), "allow_promotion_codes"),
        expires_at=_expires_at(params.get("expires_at")),
    )
    return spec, line_items


def _line_items(raw: Any) -> tuple[LineItem, ...]:
    """Inline-priced line items (at least one), which must share one currency."""
    items = as_list(raw, "line_items")
    if not items:
        raise missing_param("line_items")
    first = _line_item(items[0], "line_items[0]")
    parsed = [first]
    for index, item in enumerate(items[1:], start=1):
        prefix = f"line_items[{index}]"
        line = _line_item(item, prefix)
        if line.currency != first.currency:
            raise invalid_request(
                f"All line items must use the same currency; line_items[0] uses "
                f"{first.currency} and {prefix} uses {line.currency}.",
                param=f"{prefix}[price_data][currency]",
            )
        parsed.append(line)
    return tuple(parsed)


def _line_item(raw: Any, prefix: str) -> LineItem:
    """One line item given with `price_data`."""
    item = as_dict(raw, prefix)
    if "price" in item:
        raise invalid_request(
            f"No such price: '{item['price']}' (the sandbox supports only price_data)",
            param=f"{prefix}[price]",
            code="resource_missing",
        )
    price_param = f"{prefix}[price_data]"
    price = as_dict(require(item.get("price_data"), price_param), price_param)
    currency = required_str(price.get("currency"), f"{price_param}[currency]").lower()
    unit_amount = required_int(price.get("unit_amount"), f"{price_param}[unit_amount]", minimum=0)
    name_param = f"{price_param}[product_data][name]"
    name = required_str(get_path(price, "product_data", "name"), name_param)
    quantity = required_int(item.get("quantity"), f"{prefix}[quantity]", minimum=1)
    return LineItem(name=name, quantity=quantity, unit_amount=unit_amount, currency=currency)


def _expires_at(raw: Any) -> int | None:
    """Stripe accepts an expiry between 30 minutes and 24 hours from now."""
    expires_at = as_int(raw, "expires_at")
    if expires_at is None:
        return None
    remaining = expires_at - int(time.time())
    if not MIN_EXPIRY_SECONDS <= remaining <= MAX_EXPIRY_SECONDS:
        raise invalid_request(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from now.",
            param="expires_at",
        )
    return expires_at


def _payment_plan(
    params: dict[str, Any],
    *,
    account: Account,
    amount_total: int,
    base_url: str,
    line_items: tuple[LineItem, ...],
) -> SessionPlan:
    """Read `payment_intent_data`, enforcing the Connect rule for application fees."""
    data = as_dict(params.get("payment_intent_data"), "payment_intent_data")
    fee_param = "payment_intent_data[application_fee_amount]"
    fee = as_int(data.get("application_fee_amount"), fee_param, minimum=0)
    transfer = as_dict(data.get("transfer_data"), "payment_intent_data[transfer_data]")
    destination_param = "payment_intent_data[transfer_data][destination]"
    destination = as_str(transfer.get("destination"), destination_param)
    if transfer and destination is None:
        raise missing_param(destination_param)
    if destination is not None and not destination.startswith("acct_"):
        raise invalid_request(
            f"No such destination: '{destination}'",
            param=destination_param,
            code="resource_missing",
        )
    if fee is not None and account is None and destination is None:
        raise invalid_request(FEE_NEEDS_CONNECT, param=fee_param)
    if fee is not None and fee > amount_total:
        raise invalid_request(
            f"The application fee ({fee}) cannot exceed the payment amount ({amount_total}).",
            param=fee_param,
        )
    return SessionPlan(
        application_fee_amount=fee,
        transfer_destination=destination,
        payment_intent_metadata=as_metadata(data.get("metadata"), "payment_intent_data[metadata]"),
        description=as_str(data.get("description"), "payment_intent_data[description]"),
        base_url=base_url,
        line_items=line_items,
    )
