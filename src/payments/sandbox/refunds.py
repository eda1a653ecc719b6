"""`POST /v1/refunds`: partial and full refunds of a charge, with Stripe's error codes.

The refund lives on the charge's account, so a direct charge is refunded with
that account's `Stripe-Account` header and the platform cannot see it.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from payments.sandbox import objects
from payments.sandbox.errors import invalid_request
from payments.sandbox.events import emit
from payments.sandbox.ids import new_id
from payments.sandbox.money import ZERO_DECIMAL
from payments.sandbox.params import as_bool, as_int, as_metadata, as_str
from payments.sandbox.store import Account, RefundRecord, Store

REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def create_refund(
    store: Store,
    params: dict[str, Any],
    *,
    account: Account,
    request: tuple[str, str | None],
) -> dict[str, Any]:
    """Refund `amount` (default: all that is left) and emit `charge.refunded` + `refund.created`.

    Every check runs before anything changes, so a rejected request leaves no trace.
    """
    amount = as_int(params.get("amount"), "amount", minimum=1)
    reason = as_str(params.get("reason"), "reason")
    if reason is not None and reason not in REASONS:
        raise invalid_request(
            f"Invalid reason: must be one of {', '.join(REASONS)}", param="reason"
        )
    metadata = as_metadata(params.get("metadata"))
    # Validated, then only recorded (RefundRecord.request_params): the sandbox keeps no
    # application-fee balances for a fee refund to change.
    as_bool(params.get("refund_application_fee"), "refund_application_fee")
    reverse_transfer = as_bool(params.get("reverse_transfer"), "reverse_transfer")
    with store.lock:
        charge = _charge_to_refund(store, params, account)
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining == 0:
            raise invalid_request(
                f"Charge {charge['id']} has already been refunded.",
                param="charge" if "charge" in params else "payment_intent",
                code="charge_already_refunded",
            )
        amount = remaining if amount is None else amount
        if amount > remaining:
            currency = charge["currency"]
            raise invalid_request(
                f"Refund amount ({_money(amount, currency)}) is greater than unrefunded amount "
                f"on charge ({_money(remaining, currency)})",
                param="amount",
                code="amount_too_large",
            )
        refund = objects.refund(
            charge,
            refund_id=new_id("re"),
            amount=amount,
            reason=reason,
            metadata=metadata,
            transfer_reversal=new_id("trr")
            if reverse_transfer and charge["transfer_data"]
            else None,
            created=int(time.time()),
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        store.put(refund, account)
        store.add_refund(RefundRecord(account, copy.deepcopy(refund), copy.deepcopy(params)))
        emit(store, "charge.refunded", charge, account=account, request=request)
        emit(store, "refund.created", refund, account=account, request=request)
        return refund


def _charge_to_refund(store: Store, params: dict[str, Any], account: Account) -> dict[str, Any]:
    """The charge named by `charge` or by `payment_intent`, on the caller's account."""
    charge_id = as_str(params.get("charge"), "charge")
    intent_id = as_str(params.get("payment_intent"), "payment_intent")
    if intent_id is None:
        if charge_id is None:
            raise invalid_request("One of `charge` or `payment_intent` is required.")
        return store.fetch("charge", charge_id, account, param="charge")
    intent = store.fetch("payment_intent", intent_id, account, param="payment_intent")
    latest = intent["latest_charge"]
    if intent["status"] != "succeeded" or latest is None:
        raise invalid_request(
            f"PaymentIntent {intent_id} has no successful charge to refund "
            f"(status: {intent['status']}).",
            param="payment_intent",
            code="payment_intent_unexpected_state",
        )
    if charge_id is not None and charge_id != latest:
        raise invalid_request(
            f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.", param="charge"
        )
    return store.fetch("charge", latest, account, param="payment_intent")


def _money(amount: int, currency: str) -> str:
    """Format minor units the way Stripe's message does, e.g. `$12.50`; never via floats."""
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    major, minor = divmod(amount, 100)
    prefix = "$" if currency == "usd" else ""
    suffix = "" if currency == "usd" else f" {currency.upper()}"
    return f"{prefix}{major}.{minor:02d}{suffix}"
