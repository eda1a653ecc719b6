"""Stripe Checkout and Connect: the only module that imports the Stripe SDK.

It turns the domain's requests into Stripe calls (each with an idempotency
key) and Stripe's sessions and events into `PaymentSignal`s. Stripe's own
rules about what counts as paid live here, not in the domain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import stripe

from payments import strict_json
from payments.providers.base import (
    KEY_REUSED,
    CheckoutRequest,
    CreatedCheckout,
    InvalidEvent,
    Outcome,
    PaymentSignal,
    ProviderEvent,
    ProviderMisconfigured,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    Routing,
)

CHECKOUT_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)

# Column sizes in the database: longer values cannot be a real Stripe event.
_MAX_ID = 255
_MAX_TYPE = 100
_MAX_ACCOUNT = 64
_MAX_AMOUNT = 10**12  # far above any Stripe amount; keeps BIGINT columns safe
# Stripe ids and event types are plain ASCII: no NUL, space or surrogate ever reaches the database.
_STRIPE_ID = re.compile(r"[\x21-\x7e]+")


class UnusableSession(ValueError):
    """A signed checkout event whose session we cannot read: recorded, never applied."""


# The calls to Stripe are not mutation-tested (`make mutation`): only the signal code is.
# pragma: no mutate start
class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout: float = 20.0,
        max_network_retries: int = 2,
        webhook_tolerance: int = 300,
    ) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            http_client=self._http,
            # Retries reuse the request's idempotency key, so they are safe.
            max_network_retries=max_network_retries,
        )
        self._tolerance = webhook_tolerance

    async def aclose(self) -> None:
        await self._http.close_async()

    async def create_checkout(self, request: CheckoutRequest) -> CreatedCheckout:
        order_id = str(request.order_id)
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": request.currency,
                        "unit_amount": item.unit_amount,
                        "product_data": {"name": item.name},
                    },
                    "quantity": item.quantity,
                }
                for item in request.line_items
            ],
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "client_reference_id": order_id,
            "metadata": {"order_id": order_id},
            # Decided per order (no codes when a fee is taken); 100% codes make a free order.
            "allow_promotion_codes": request.allow_promotion_codes,
            "payment_intent_data": {"metadata": {"order_id": order_id}},
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        options: dict[str, Any] = {"idempotency_key": request.idempotency_key}
        if request.routing:
            _route_checkout(params["payment_intent_data"], options, request.routing)
        try:
            session = await self._client.v1.checkout.sessions.create_async(params, options)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return CreatedCheckout(session_id=session.id, url=session.url or "")

    async def fetch_checkout(self, session_id: str, *, account: str | None) -> PaymentSignal:
        options: dict[str, Any] = {"stripe_account": account} if account else {}
        try:
            session = await self._client.v1.checkout.sessions.retrieve_async(
                session_id,
                options=options,
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        try:
            return signal_from_session(session.to_dict(), event_type=None, account=account)
        except UnusableSession as exc:
            raise ProviderRejected(f"Stripe returned an unusable session: {exc}") from None

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Refund what remains of the payment: without `amount`, Stripe takes all that is left,
        so a partial refund made elsewhere (the Dashboard) cannot make this one too large.

        A charge already refunded in full elsewhere is not an error: the result then has no
        refund id and says what Stripe holds as refunded on the charge.
        """
        params: dict[str, Any] = {
            "payment_intent": request.payment_id,
            "reason": "requested_by_customer",
            "metadata": {"order_id": str(request.order_id), "reason": request.reason},
        }
        options: dict[str, Any] = {"idempotency_key": request.idempotency_key}
        account = None
        if request.routing:
            # The platform gives back the fee it took, if it took one (only the application
            # that took a fee may refund it); a destination charge takes the transfer back.
            if request.routing.application_fee_amount > 0:
                params["refund_application_fee"] = True
            if request.routing.charge_type == "direct":
                account = options["stripe_account"] = request.routing.account
            else:
                params["reverse_transfer"] = True
        try:
            refund = await self._client.v1.refunds.create_async(params, options)
        except stripe.StripeError as exc:
            error = _translate(exc)
            if isinstance(error, ProviderRejected) and error.code == "charge_already_refunded":
                return await self._refunded_elsewhere(request.payment_id, account=account)
            raise error from exc
        return RefundResult(
            refund_id=refund.id,
            amount=refund.amount,
            currency=refund.currency,
            status=refund.status or "",
        )

    async def _refunded_elsewhere(self, payment_id: str, *, account: str | None) -> RefundResult:
        """What was given back on a charge refunded outside this service, as Stripe holds it:
        the charge's `amount_refunded` in its own currency (on the connected account for a
        direct charge), not what the order expected to give back."""
        options: dict[str, Any] = {"stripe_account": account} if account else {}
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(
                payment_id, {"expand": ["latest_charge"]}, options
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        charge = intent.to_dict().get("latest_charge")
        refunded = _integer(charge, "amount_refunded") if isinstance(charge, Mapping) else None
        currency = _currency(charge, "currency") if isinstance(charge, Mapping) else None
        if refunded is None or currency is None:
            raise ProviderRejected("Stripe says the charge was refunded but shows no such charge")
        return RefundResult(
            refund_id=None, amount=refunded, currency=currency, status="already_refunded"
        )

    def parse_event(
        self, body: bytes, headers: Mapping[str, str], secrets: list[str]
    ) -> ProviderEvent:
        """Verify the signature against each accepted secret, then read the event.

        Several secrets are accepted so that a secret can be rotated without
        dropping events signed with the old one.
        """
        _verify_signature(body, headers.get("stripe-signature"), secrets, self._tolerance)
        event = _parse_event_body(body)
        account = event.get("account")
        signal, problem = None, None
        obj = event["data"]["object"]
        if event["type"] in CHECKOUT_EVENTS and obj.get("object") == "checkout.session":
            try:
                signal = signal_from_session(obj, event_type=event["type"], account=account)
            except UnusableSession as exc:
                problem = str(exc)
        return ProviderEvent(
            id=event["id"],
            type=event["type"],
            account=account,
            livemode=event.get("livemode") is True,
            signal=signal,
            problem=problem,
        )


def _route_checkout(
    payment_intent_data: dict[str, Any], options: dict[str, Any], routing: Routing
) -> None:
    """Direct charges live on the connected account; destination charges on the platform."""
    if routing.application_fee_amount > 0:
        payment_intent_data["application_fee_amount"] = routing.application_fee_amount
    if routing.charge_type == "direct":
        options["stripe_account"] = routing.account
    else:
        payment_intent_data["transfer_data"] = {"destination": routing.account}


# pragma: no mutate end


def signal_from_session(
    session: Mapping[str, Any], *, event_type: str | None, account: str | None
) -> PaymentSignal:
    """Read what a Checkout Session says about the money.

    A 100% promotion code completes a payment-mode session with
    `amount_total == 0` and no PaymentIntent; Stripe reports it as `paid` or,
    on newer API versions, `no_payment_required`. Anywhere else (setup mode,
    trials) `no_payment_required` is not a payment.

    Free means no PaymentIntent, nothing else. A paid session must say how much
    was paid and in which currency, and must have a PaymentIntent unless nothing
    was due; otherwise it is unusable (recorded, never applied), so that money
    that moved is never mistaken for a free order.

    The amount and currency are the merchant's, what the order was priced in,
    whatever currency the buyer saw (`_merchant_amount`).
    """
    session_id = _stripe_id(session.get("id"), _MAX_ID)
    if session_id is None:
        raise UnusableSession("session id missing, too long or not a Stripe id")
    amount_total, currency = _merchant_amount(session)
    if amount_total is not None and not 0 <= amount_total < _MAX_AMOUNT:
        raise UnusableSession("amount_total out of range")
    payment_intent = session.get("payment_intent")
    if isinstance(payment_intent, Mapping):  # expanded
        payment_intent = payment_intent.get("id")
    payment_id = payment_intent if isinstance(payment_intent, str) else None
    if payment_id is not None and _stripe_id(payment_id, _MAX_ID) is None:
        raise UnusableSession("payment_intent too long or not a Stripe id")
    outcome = _outcome(
        event_type=event_type,
        mode=session.get("mode"),
        status=session.get("status"),
        payment_status=session.get("payment_status"),
        free=amount_total == 0 and payment_id is None,
    )
    if outcome is Outcome.PAID:
        _check_paid(amount_total, currency, payment_id)
    return PaymentSignal(
        session_id=session_id,
        account=account,
        outcome=outcome,
        amount_paid=amount_total if outcome is Outcome.PAID else None,
        currency=currency,
        payment_id=payment_id,
    )


def _check_paid(amount_total: int | None, currency: str | None, payment_id: str | None) -> None:
    if amount_total is None:
        raise UnusableSession("a paid session without an integer amount_total")
    if currency is None:
        raise UnusableSession("a paid session without a currency code")
    if payment_id is None and amount_total != 0:
        raise UnusableSession("a paid session with an amount due but no PaymentIntent")


def _merchant_amount(session: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """The session's total and currency on the merchant's side (None where not readable).

    With Adaptive Pricing the buyer may pay in a currency of their own. Sessions created
    since 2025-03-31 keep the merchant's in `amount_total`/`currency` and put the buyer's
    in `presentment_details`. Sessions created before then put the buyer's in
    `amount_total`/`currency` and the merchant's in `currency_conversion`
    (`amount_total`, `source_currency`), a field API versions from 2025-09-30.clover no
    longer show. Read the conversion when there is one, so a payment made in the buyer's
    currency is judged by what the merchant charged.
    """
    conversion = session.get("currency_conversion")
    if conversion is None:
        return _integer(session, "amount_total"), _currency(session, "currency")
    if not isinstance(conversion, Mapping):  # the merchant's side is there, unreadable
        return None, None
    return _integer(conversion, "amount_total"), _currency(conversion, "source_currency")


def _currency(obj: Mapping[str, Any], key: str) -> str | None:
    """The ISO 4217 code, lower-cased as Stripe writes it; None if absent or not a code."""
    value = _text(obj, key)
    if value is None or len(value) != 3 or not (value.isascii() and value.isalpha()):
        return None
    return value.lower()


def _outcome(
    *, event_type: str | None, mode: object, status: object, payment_status: object, free: bool
) -> Outcome:
    if mode != "payment":
        return Outcome.NOT_A_PAYMENT
    if event_type == "checkout.session.async_payment_failed":
        return Outcome.FAILED
    if event_type == "checkout.session.expired" or status == "expired":
        return Outcome.EXPIRED
    if status != "complete":
        return Outcome.OPEN
    if payment_status == "paid":
        return Outcome.PAID
    if payment_status == "no_payment_required":
        return Outcome.PAID if free else Outcome.NOT_A_PAYMENT
    if payment_status == "unpaid":
        return Outcome.PROCESSING
    return Outcome.OPEN  # an unknown status confirms nothing


# pragma: no mutate start
def _verify_signature(body: bytes, header: str | None, secrets: list[str], tolerance: int) -> None:
    if not header:
        raise InvalidEvent("missing Stripe-Signature header")
    if not header.isascii():  # the SDK's compare_digest raises TypeError on anything else
        raise InvalidEvent("Stripe-Signature header is not ASCII")
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(body, header, secret, tolerance)
            return
        except stripe.SignatureVerificationError:
            continue
        except UnicodeDecodeError:
            raise InvalidEvent("body is not UTF-8") from None
    raise InvalidEvent("signature does not match, or the timestamp is outside the tolerance")


def _parse_event_body(body: bytes) -> dict[str, Any]:
    """The event's envelope, or InvalidEvent (400) for anything Stripe never sends.

    `livemode` must be a JSON boolean: a string `"true"` read as false would let a
    live event pass as a test one (and the reverse)."""
    try:
        event = strict_json.loads(body)
    except strict_json.NotJson as exc:
        raise InvalidEvent(f"body {exc}") from None
    if not isinstance(event, dict):
        raise InvalidEvent("body is not a JSON object")
    data = event.get("data")
    if _stripe_id(event.get("id"), _MAX_ID) is None:
        raise InvalidEvent("event has no usable id")
    if _stripe_id(event.get("type"), _MAX_TYPE) is None:
        raise InvalidEvent("event has no usable type")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise InvalidEvent("event has no data.object")
    account = event.get("account")
    if account is not None and _stripe_id(account, _MAX_ACCOUNT) is None:
        raise InvalidEvent("event account is not an account id")
    if not isinstance(event.get("livemode"), bool):
        raise InvalidEvent("event livemode is not true or false")
    return event


# pragma: no mutate end


def _text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _stripe_id(value: object, max_length: int) -> str | None:
    """The value if it can be a Stripe id (or event type), else None."""
    if isinstance(value, str) and len(value) <= max_length and _STRIPE_ID.fullmatch(value):
        return value
    return None


def _integer(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# pragma: no mutate start
def _translate(exc: stripe.StripeError) -> Exception:
    """Transient failures can be retried as they are; rejections cannot."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or getattr(exc, "code", None)
    if code is None and isinstance(exc, stripe.IdempotencyError):
        code = KEY_REUSED  # Stripe says so by the error's type (idempotency_error), no code
    status = exc.http_status or 0
    transient = (
        isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError)
        or status >= 500
        or status == 409
    )
    message = f"Stripe {type(exc).__name__}" + (f" ({code})" if code else "")
    if transient:
        return ProviderUnavailable(message, code=code)
    if status in (401, 403):  # our key, not the request: fixed by configuration
        return ProviderMisconfigured(message, code=code)
    return ProviderRejected(message, code=code)


def _id_schema(max_length: int) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^{_STRIPE_ID.pattern}$", "maxLength": max_length}


# What `parse_event` accepts, for the OpenAPI schema of the webhook endpoints.
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Stripe event, exactly as Stripe sent it (signed in Stripe-Signature).",
    "required": ["id", "type", "livemode", "data"],
    "properties": {
        "id": _id_schema(_MAX_ID),
        "type": _id_schema(_MAX_TYPE),
        "account": {"anyOf": [_id_schema(_MAX_ACCOUNT), {"type": "null"}]},
        "livemode": {
            "type": "boolean",
            "description": "true for live events; must match the key's mode",
        },
        "data": {
            "type": "object",
            "required": ["object"],
            "properties": {"object": {"type": "object"}},
        },
    },
}


# pragma: no mutate end
