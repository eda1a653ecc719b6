"""Disputes: a buyer's bank contesting a payment, opened and moved by Stripe, not the API.

A dispute lives on its charge's account (so a direct charge's dispute is seen only
with that account's `Stripe-Account` header) and starts `needs_response` with a
week to answer. Its events carry the dispute: `charge.dispute.created` and
`.funds_withdrawn` on opening, `.updated` on every move, `.closed` when it is won,
lost or a closed inquiry, and `.funds_reinstated` when won. A charge under a
chargeback cannot also be refunded (`charge_disputed`).
"""

from __future__ import annotations

import time
from typing import Any

from payments.sandbox import objects
from payments.sandbox.errors import invalid_request
from payments.sandbox.events import emit
from payments.sandbox.ids import new_id
from payments.sandbox.lists import created_filter, field_equals, list_page
from payments.sandbox.store import Account, Store

REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "noncompliant",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
STATUSES = (
    "warning_needs_response",
    "warning_under_review",
    "warning_closed",
    "needs_response",
    "under_review",
    "won",
    "lost",
    "prevented",
    "appeal_needs_response",
    "appeal_under_review",
)
CLOSING = ("won", "lost", "warning_closed")
"""The statuses Stripe sends `charge.dispute.closed` for."""
FINAL = (*CLOSING, "prevented")
"""Statuses a dispute never leaves (appeals are not modelled)."""
RESPONSE_SECONDS = 7 * 24 * 60 * 60


def open_dispute(
    store: Store, payment_intent_id: str, *, reason: str = "fraudulent", amount: int | None = None
) -> dict[str, Any]:
    """Open a dispute on the payment's charge for `amount` (default: the whole charge).

    One dispute per charge, as on Stripe. Marks the charge `disputed`; emits
    `charge.dispute.created` then `charge.dispute.funds_withdrawn`.
    """
    if reason not in REASONS:
        raise invalid_request(
            f"Invalid reason: must be one of {', '.join(REASONS)}", param="reason"
        )
    if amount is not None and amount < 1:
        raise invalid_request("Invalid positive integer", param="amount")
    with store.lock:
        stored = store.find("payment_intent", payment_intent_id, param="payment_intent")
        intent, account = stored.obj, stored.account
        if intent["status"] != "succeeded" or intent["latest_charge"] is None:
            raise invalid_request(
                f"PaymentIntent {payment_intent_id} has no successful charge to dispute "
                f"(status: {intent['status']}).",
                param="payment_intent",
                code="payment_intent_unexpected_state",
            )
        charge = store.fetch("charge", intent["latest_charge"], account, param="payment_intent")
        if charge["disputed"]:
            raise invalid_request(
                f"Charge {charge['id']} is already disputed.",
                param="payment_intent",
                code="charge_disputed",
            )
        amount = charge["amount"] if amount is None else amount
        if amount > charge["amount"]:
            raise invalid_request(
                f"A dispute cannot be for more than the charge ({charge['amount']}).",
                param="amount",
                code="amount_too_large",
            )
        now = int(time.time())
        dispute = objects.dispute(
            charge,
            dispute_id=new_id("dp"),
            amount=amount,
            reason=reason,
            status="needs_response",
            due_by=now + RESPONSE_SECONDS,
            created=now,
        )
        charge["disputed"] = True
        store.put(dispute, account)
        emit(store, "charge.dispute.created", dispute, account=account)
        emit(store, "charge.dispute.funds_withdrawn", dispute, account=account)
        return dispute


def update_dispute(store: Store, dispute_id: str, status: str) -> dict[str, Any]:
    """Move an open dispute to `status`: `charge.dispute.updated` (with the old status in
    `previous_attributes`), then `.closed` for won/lost/warning_closed and
    `.funds_reinstated` for won. A closed dispute no longer moves."""
    if status not in STATUSES:
        raise invalid_request(
            f"Invalid status: must be one of {', '.join(STATUSES)}", param="status"
        )
    with store.lock:
        stored = store.find("dispute", dispute_id)
        dispute, account = stored.obj, stored.account
        if dispute["status"] in FINAL:
            raise invalid_request(
                f"Dispute {dispute_id} is closed ({dispute['status']}); it cannot change.",
                param="status",
            )
        if dispute["status"] == status:
            raise invalid_request(f"Dispute {dispute_id} is already {status}.", param="status")
        previous: dict[str, Any] = {"status": dispute["status"]}
        refundable = status.startswith("warning_")
        if refundable != dispute["is_charge_refundable"]:
            previous["is_charge_refundable"] = dispute["is_charge_refundable"]
        dispute.update(status=status, is_charge_refundable=refundable)
        emit(
            store, "charge.dispute.updated", dispute, account=account, previous_attributes=previous
        )
        if status in CLOSING:
            emit(store, "charge.dispute.closed", dispute, account=account)
        if status == "won":
            emit(store, "charge.dispute.funds_reinstated", dispute, account=account)
        return dispute


def list_disputes(store: Store, params: dict[str, Any], account: Account) -> dict[str, Any]:
    """`GET /v1/disputes`: the account's disputes, newest first, by `charge`/`payment_intent`."""
    same = field_equals(params, "charge", "payment_intent")
    created = created_filter(params.get("created"))
    with store.lock:
        return list_page(
            store.all("dispute", account),
            params,
            url="/v1/disputes",
            object_name="dispute",
            wanted=lambda dispute: same(dispute) and created(dispute["created"]),
        )


def blocks_refund(store: Store, charge_id: str, account: Account) -> bool:
    """Whether a chargeback (not an inquiry) on the charge rules out refunding it."""
    with store.lock:
        return any(
            dispute["charge"] == charge_id and not dispute["is_charge_refundable"]
            for dispute in store.all("dispute", account)
        )
