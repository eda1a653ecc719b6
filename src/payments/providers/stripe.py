"""Stripe Checkout and Connect: the only module that imports the Stripe SDK.

It turns the domain's requests into Stripe calls (each with an idempotency
key) and Stripe's sessions and events into `PaymentSignal`s. Stripe's own
rules about what counts as paid live here, not in the domain.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import stripe

from payments import strict_json
from payments.providers.base import (
    KEY_REUSED,
    AlreadyRefunded,
    ChargeRefunds,
    CheckoutRequest,
    CreatedCheckout,
    DisputeSignal,
    InvalidEvent,
    Outcome,
    PaymentSignal,
    ProviderEvent,
    ProviderMisconfigured,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundSignal,
    RefundState,
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
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed"})
CHARGE_REFUNDED = "charge.refunded"
DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)
# Every event type the service acts on (reconciliation lists exactly these).
HANDLED_EVENTS = CHECKOUT_EVENTS | REFUND_EVENTS | {CHARGE_REFUNDED} | DISPUTE_EVENTS

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
        expires_at = getattr(session, "expires_at", None)
        return CreatedCheckout(
            session_id=session.id,
            url=session.url or "",
            expires_at=expires_at if isinstance(expires_at, int) else None,
        )

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

    async def refund(self, request: RefundRequest) -> RefundSignal:
        """Refund `amount`, or without it what remains of the payment: Stripe then takes all
        that is left, so a partial refund made elsewhere (the Dashboard) cannot make this one
        too large. Nothing left to refund raises AlreadyRefunded.

        Our refund id rides in metadata, so the refund's webhooks find its row even before
        this answer is recorded.
        """
        params: dict[str, Any] = {
            "payment_intent": request.payment_id,
            "reason": _STRIPE_REASONS.get(request.reason, "requested_by_customer"),
            "metadata": {"order_id": str(request.order_id), "reason": request.reason},
        }
        if request.refund_id is not None:
            params["metadata"]["refund_id"] = str(request.refund_id)
        if request.amount is not None:
            params["amount"] = request.amount
        options: dict[str, Any] = {"idempotency_key": request.idempotency_key}
        account = None
        if request.routing:
            # The platform gives back the fee it took, in proportion, if it took one (only
            # the application that took a fee may refund it); a destination charge takes
            # the transfer back in proportion too.
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
                raise AlreadyRefunded(str(error)) from exc
            raise error from exc
        signal = refund_signal(refund.to_dict(), account=account)
        if signal is None:
            raise ProviderRejected("Stripe answered with a refund it does not describe")
        return signal

    async def list_refunds(self, payment_id: str, *, account: str | None) -> list[RefundSignal]:
        """Every refund of the payment, as Stripe holds them (on the connected account for a
        direct charge): how refunds made elsewhere are found without their webhooks."""
        options: dict[str, Any] = {"stripe_account": account} if account else {}
        found = []
        try:
            page = await self._client.v1.refunds.list_async(
                {"payment_intent": payment_id, "limit": 100}, options
            )
            async for refund in page.auto_paging_iter():
                signal = refund_signal(refund.to_dict(), account=account)
                if signal is not None:
                    found.append(signal)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return found

    async def retrieve_event(self, event_id: str, *, account: str | None) -> ProviderEvent:
        """One event as Stripe holds it (for 30 days), read like a verified webhook."""
        options: dict[str, Any] = {"stripe_account": account} if account else {}
        try:
            event = await self._client.v1.events.retrieve_async(event_id, options=options)
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return read_event(event.to_dict())

    async def list_events(
        self, *, account: str | None, created_gte: int, types: list[str]
    ) -> AsyncIterator[ProviderEvent]:
        """The account's events of `types` since `created_gte`, newest first, each read as a
        verified webhook would be: they come from Stripe's API over TLS with our key, so
        they need no signature. Stripe keeps events for 30 days."""
        options: dict[str, Any] = {"stripe_account": account} if account else {}
        params: dict[str, Any] = {"created": {"gte": created_gte}, "limit": 100}
        try:
            for start in range(0, len(types), 20):  # Stripe takes at most 20 types per call
                page = await self._client.v1.events.list_async(
                    {**params, "types": types[start : start + 20]}, options
                )
                async for event in page.auto_paging_iter():
                    yield read_event(event.to_dict())
        except stripe.StripeError as exc:
            raise _translate(exc) from exc

    def parse_event(
        self, body: bytes, headers: Mapping[str, str], secrets: list[str]
    ) -> ProviderEvent:
        """Verify the signature against each accepted secret, then read the event.

        Several secrets are accepted so that a secret can be rotated without
        dropping events signed with the old one.
        """
        _verify_signature(body, headers.get("stripe-signature"), secrets, self._tolerance)
        try:
            event = strict_json.loads(body)
        except strict_json.NotJson as exc:
            raise InvalidEvent(f"body {exc}") from None
        return read_event(event)


def read_event(event: object) -> ProviderEvent:
    """An event's envelope and what it is about, or InvalidEvent for anything Stripe never
    sends. Signed webhooks and events listed from the API are read the same way."""
    envelope = _event_envelope(event)
    account = envelope.get("account")
    event_type = envelope["type"]
    obj = envelope["data"]["object"]
    found: dict[str, Any] = {}
    problem = None
    try:
        if event_type in CHECKOUT_EVENTS and obj.get("object") == "checkout.session":
            found["signal"] = signal_from_session(obj, event_type=event_type, account=account)
        elif event_type in REFUND_EVENTS and obj.get("object") == "refund":
            found["refund"] = _required(refund_signal(obj, account=account), "refund")
        elif event_type == CHARGE_REFUNDED and obj.get("object") == "charge":
            found["charge_refunds"] = _required(_charge_refunds(obj, account), "charge")
        elif event_type in DISPUTE_EVENTS and obj.get("object") == "dispute":
            found["dispute"] = _required(_dispute_signal(obj, account), "dispute")
    except UnusableSession as exc:
        problem = str(exc)
    created = _integer(envelope, "created")
    return ProviderEvent(
        id=envelope["id"],
        type=event_type,
        account=account,
        livemode=envelope.get("livemode") is True,
        signal=found.get("signal"),
        problem=problem,
        refund=found.get("refund"),
        charge_refunds=found.get("charge_refunds"),
        dispute=found.get("dispute"),
        created=created,
    )


def _required(value: Any, what: str) -> Any:
    if value is None:
        raise UnusableSession(f"the event's {what} lacks an id, an amount or a currency")
    return value


_STRIPE_REASONS = {"duplicate": "duplicate", "fraudulent": "fraudulent"}
_REFUND_STATES = {
    "pending": RefundState.PENDING,
    "requires_action": RefundState.PENDING,
    "succeeded": RefundState.SUCCEEDED,
    "failed": RefundState.FAILED,
    "canceled": RefundState.CANCELED,
}


def refund_signal(refund: Mapping[str, Any], *, account: str | None) -> RefundSignal | None:
    """What a Stripe refund says, or None if it lacks what every refund has. An unknown
    status counts as pending: money may be on its way back, so it is not refundable again."""
    refund_id = _stripe_id(refund.get("id"), _MAX_ID)
    amount = _integer(refund, "amount")
    currency = _currency(refund, "currency")
    if refund_id is None or amount is None or not 0 <= amount < _MAX_AMOUNT or currency is None:
        return None
    metadata = refund.get("metadata")
    ours = metadata.get("refund_id") if isinstance(metadata, Mapping) else None
    return RefundSignal(
        refund_id=refund_id,
        payment_id=_payment_of(refund),
        account=account,
        amount=amount,
        currency=currency,
        status=_REFUND_STATES.get(str(refund.get("status")), RefundState.PENDING),
        reason=_short_text(refund, "reason", 32),
        failure_reason=_short_text(refund, "failure_reason", 64),
        our_refund_id=_uuid(ours),
    )


def _charge_refunds(charge: Mapping[str, Any], account: str | None) -> ChargeRefunds | None:
    payment_id = _payment_of(charge)
    refunded = _integer(charge, "amount_refunded")
    currency = _currency(charge, "currency")
    if payment_id is None or refunded is None or currency is None:
        return None
    if not 0 <= refunded < _MAX_AMOUNT:
        return None
    return ChargeRefunds(
        payment_id=payment_id, account=account, amount_refunded=refunded, currency=currency
    )


def _dispute_signal(dispute: Mapping[str, Any], account: str | None) -> DisputeSignal | None:
    dispute_id = _stripe_id(dispute.get("id"), _MAX_ID)
    amount = _integer(dispute, "amount")
    currency = _currency(dispute, "currency")
    status = _short_text(dispute, "status", 32)
    if dispute_id is None or amount is None or currency is None or status is None:
        return None
    if not 0 <= amount < _MAX_AMOUNT:
        return None
    evidence = dispute.get("evidence_details")
    due_by = _integer(evidence, "due_by") if isinstance(evidence, Mapping) else None
    return DisputeSignal(
        dispute_id=dispute_id,
        payment_id=_payment_of(dispute),
        account=account,
        amount=amount,
        currency=currency,
        reason=_short_text(dispute, "reason", 64),
        status=status,
        # 0 means no response is possible; a date past 9999 cannot be stored (or be real).
        evidence_due_by=due_by if due_by and 0 < due_by < 253402300800 else None,
    )


def _payment_of(obj: Mapping[str, Any]) -> str | None:
    """The PaymentIntent a refund, charge or dispute belongs to (expanded or not)."""
    payment = obj.get("payment_intent")
    if isinstance(payment, Mapping):
        payment = payment.get("id")
    return _stripe_id(payment, _MAX_ID)


def _short_text(obj: Mapping[str, Any], key: str, max_length: int) -> str | None:
    """A Stripe enum value (a reason, a status) that fits its column: plain ASCII, short.
    Anything else is dropped (a status: the whole object is unusable), never stored."""
    return _stripe_id(obj.get(key), max_length)


def _uuid(value: object) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


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


def _event_envelope(event: object) -> dict[str, Any]:
    """The event's envelope, or InvalidEvent (400) for anything Stripe never sends.

    `livemode` must be a JSON boolean: a string `"true"` read as false would let a
    live event pass as a test one (and the reverse)."""
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
