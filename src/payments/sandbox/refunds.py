"""Refunds: `POST /v1/refunds` and its reads, refunds made in the Dashboard, and what
happens to a refund later (a pending refund settling, any refund failing).

The refund lives on the charge's account, so a direct charge is refunded with
that account's `Stripe-Account` header and the platform cannot see it. A refund
takes its amount off the charge at once (`amount_refunded`, `charge.refunded`),
even while pending; a failed refund gives it back.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from payments.sandbox import disputes, objects
from payments.sandbox.errors import invalid_request
from payments.sandbox.events import emit
from payments.sandbox.ids import new_id
from payments.sandbox.lists import created_filter, field_equals, list_page
from payments.sandbox.money import ZERO_DECIMAL
from payments.sandbox.params import as_bool, as_int, as_metadata, as_str
from payments.sandbox.store import Account, RefundRecord, RefundSource, Store

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
FAILURE_REASONS = (
    "charge_for_pending_refund_disputed",
    "declined",
    "expired_or_canceled_card",
    "insufficient_funds",
    "lost_or_stolen_card",
    "merchant_request",
    "unknown",
)

Request = tuple[str, str | None]


def create_refund(
    store: Store,
    params: dict[str, Any],
    *,
    account: Account,
    request: Request,
) -> dict[str, Any]:
    """Refund `amount` (default: all that is left) and emit `charge.refunded` + `refund.created`.

    Every check runs before anything changes, so a rejected request leaves no trace.
    """
    amount = as_int(params.get("amount"), "amount", minimum=1)
    reason = _reason(as_str(params.get("reason"), "reason"))
    metadata = as_metadata(params.get("metadata"))
    # Validated, then only recorded (RefundRecord.request_params): the sandbox keeps no
    # application-fee balances for a fee refund to change.
    as_bool(params.get("refund_application_fee"), "refund_application_fee")
    reverse_transfer = as_bool(params.get("reverse_transfer"), "reverse_transfer")
    with store.lock:
        charge = _charge_to_refund(store, params, account)
        return _refund(
            store,
            charge,
            account,
            amount=amount,
            reason=reason,
            metadata=metadata,
            reverse_transfer=bool(reverse_transfer),
            target_param="charge" if "charge" in params else "payment_intent",
            request=request,
            request_params=params,
            source="api",
        )


def refund_in_dashboard(
    store: Store, payment_intent_id: str, *, amount: int | None = None, reason: str | None = None
) -> dict[str, Any]:
    """A refund made outside the service, on the payment's own account.

    The same checks and events as the API (`charge.refunded`, `refund.created`), but no
    metadata and no `request` on the events: nothing of the service's is involved.
    """
    if amount is not None and amount < 1:
        raise invalid_request("Invalid positive integer", param="amount")
    reason = _reason(reason)
    with store.lock:
        stored = store.find("payment_intent", payment_intent_id, param="payment_intent")
        charge = _latest_charge(store, stored.obj, stored.account)
        return _refund(
            store,
            charge,
            stored.account,
            amount=amount,
            reason=reason,
            metadata={},
            reverse_transfer=False,
            target_param="payment_intent",
            request=None,
            request_params={},
            source="dashboard",
        )


def settle_refund(store: Store, refund_id: str) -> dict[str, Any]:
    """A pending refund went through: `succeeded`, with `refund.updated` (and the legacy
    `charge.refund.updated`)."""
    with store.lock:
        stored = store.find("refund", refund_id)
        refund = stored.obj
        if refund["status"] != "pending":
            raise invalid_request(
                f"Refund {refund_id} is {refund['status']}; only a pending refund can settle."
            )
        previous = {"status": "pending", "pending_reason": refund["pending_reason"]}
        refund.update(status="succeeded", pending_reason=None)
        _emit_updated(store, refund, stored.account, previous)
        return refund


def fail_refund(
    store: Store, refund_id: str, failure_reason: str = "expired_or_canceled_card"
) -> dict[str, Any]:
    """The refund did not reach the buyer: `failed`, and its amount is back on the charge.

    Works on pending and succeeded refunds (a card refund can fail days after it
    succeeded). Emits `refund.failed`, then `refund.updated` and `charge.refund.updated`.
    """
    if failure_reason not in FAILURE_REASONS:
        raise invalid_request(
            f"Invalid failure_reason: must be one of {', '.join(FAILURE_REASONS)}",
            param="failure_reason",
        )
    with store.lock:
        stored = store.find("refund", refund_id)
        refund = stored.obj
        if refund["status"] not in ("pending", "succeeded"):
            raise invalid_request(
                f"Refund {refund_id} is {refund['status']}; only a pending or succeeded "
                "refund can fail."
            )
        charge = store.find("charge", refund["charge"]).obj
        previous = {
            "status": refund["status"],
            "failure_reason": None,
            "pending_reason": refund["pending_reason"],
        }
        refund.update(status="failed", failure_reason=failure_reason, pending_reason=None)
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        emit(store, "refund.failed", refund, account=stored.account)
        _emit_updated(store, refund, stored.account, previous)
        return refund


def list_refunds(store: Store, params: dict[str, Any], account: Account) -> dict[str, Any]:
    """`GET /v1/refunds`: the account's refunds, newest first, by `charge`/`payment_intent`."""
    same = field_equals(params, "charge", "payment_intent")
    created = created_filter(params.get("created"))
    with store.lock:
        return list_page(
            store.all("refund", account),
            params,
            url="/v1/refunds",
            object_name="refund",
            wanted=lambda refund: same(refund) and created(refund["created"]),
        )


def _refund(
    store: Store,
    charge: dict[str, Any],
    account: Account,
    *,
    amount: int | None,
    reason: str | None,
    metadata: dict[str, str],
    reverse_transfer: bool,
    target_param: str,
    request: Request | None,
    request_params: dict[str, Any],
    source: RefundSource,
) -> dict[str, Any]:
    """Check, then take `amount` off the charge; the caller holds the store lock."""
    if disputes.blocks_refund(store, charge["id"], account):
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; it cannot be refunded.",
            param=target_param,
            code="charge_disputed",
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining == 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.",
            param=target_param,
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
        transfer_reversal=new_id("trr") if reverse_transfer and charge["transfer_data"] else None,
        created=int(time.time()),
        status=store.new_refund_status,
    )
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    store.put(refund, account)
    store.add_refund(RefundRecord(account, refund, copy.deepcopy(request_params), source))
    emit(store, "charge.refunded", charge, account=account, request=request)
    emit(store, "refund.created", refund, account=account, request=request)
    return refund


def _emit_updated(
    store: Store, refund: dict[str, Any], account: Account, previous: dict[str, Any]
) -> None:
    emit(store, "refund.updated", refund, account=account, previous_attributes=previous)
    emit(store, "charge.refund.updated", refund, account=account, previous_attributes=previous)


def _reason(reason: str | None) -> str | None:
    if reason is not None and reason not in REASONS:
        raise invalid_request(
            f"Invalid reason: must be one of {', '.join(REASONS)}", param="reason"
        )
    return reason


def _charge_to_refund(store: Store, params: dict[str, Any], account: Account) -> dict[str, Any]:
    """The charge named by `charge` or by `payment_intent`, on the caller's account."""
    charge_id = as_str(params.get("charge"), "charge")
    intent_id = as_str(params.get("payment_intent"), "payment_intent")
    if intent_id is None:
        if charge_id is None:
            raise invalid_request("One of `charge` or `payment_intent` is required.")
        return store.fetch("charge", charge_id, account, param="charge")
    intent = store.fetch("payment_intent", intent_id, account, param="payment_intent")
    charge = _latest_charge(store, intent, account)
    if charge_id is not None and charge_id != charge["id"]:
        raise invalid_request(
            f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.", param="charge"
        )
    return charge


def _latest_charge(store: Store, intent: dict[str, Any], account: Account) -> dict[str, Any]:
    latest = intent["latest_charge"]
    if intent["status"] != "succeeded" or latest is None:
        raise invalid_request(
            f"PaymentIntent {intent['id']} has no successful charge to refund "
            f"(status: {intent['status']}).",
            param="payment_intent",
            code="payment_intent_unexpected_state",
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
