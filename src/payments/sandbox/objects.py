"""Wire shapes of the objects the sandbox returns.

Field sets follow the stripe-fixtures3.json resources (the endive API shapes the
16.x SDK is generated from), so code written against the sandbox reads the same
fields it will read from Stripe. Values are what a fresh test-mode object holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

API_VERSION = "2026-10-28.endive"

_EMPTY_ADDRESS: dict[str, Any] = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


@dataclass(frozen=True)
class SessionSpec:
    """A validated `POST /v1/checkout/sessions` request, ready to become a session."""

    mode: str
    currency: str
    amount_subtotal: int
    success_url: str
    cancel_url: str | None
    customer: str | None
    customer_email: str | None
    client_reference_id: str | None
    metadata: dict[str, str]
    locale: str | None
    allow_promotion_codes: bool | None
    expires_at: int | None


def checkout_session(
    spec: SessionSpec, *, session_id: str, url: str, created: int, livemode: bool
) -> dict[str, Any]:
    """An open, unpaid session; Checkout creates the PaymentIntent only once the buyer pays."""
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": spec.allow_promotion_codes,
        "amount_subtotal": spec.amount_subtotal,
        "amount_total": spec.amount_subtotal,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": spec.cancel_url,
        "client_reference_id": spec.client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": spec.currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": spec.customer,
        "customer_account": None,
        "customer_creation": None if spec.customer else "if_required",
        "customer_details": None,
        "customer_email": spec.customer_email,
        "discounts": [],
        "expires_at": spec.expires_at or created + 24 * 60 * 60,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "livemode": livemode,
        "locale": spec.locale,
        "managed_payments": {"enabled": False},
        "metadata": spec.metadata,
        "mode": spec.mode,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": spec.success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
        "wallet_options": None,
    }


def customer_details(email: str | None) -> dict[str, Any]:
    """What Checkout collected from the buyer, set when the session completes."""
    return {
        "address": dict(_EMPTY_ADDRESS, country="US"),
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": "Sandbox Buyer",
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def payment_intent(
    *,
    intent_id: str,
    amount: int,
    currency: str,
    status: str,
    payment_method_type: str,
    application_fee_amount: int | None,
    transfer_destination: str | None,
    metadata: dict[str, str],
    description: str | None,
    customer: str | None,
    created: int,
    livemode: bool,
) -> dict[str, Any]:
    """The PaymentIntent Checkout creates on payment; `latest_charge` is set by the caller."""
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount if status == "succeeded" else 0,
        "application": None,
        "application_fee_amount": application_fee_amount,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{intent_id}_secret_sandbox",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": livemode,
        "managed_payments": None,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": [payment_method_type],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": (
            {"destination": transfer_destination} if transfer_destination is not None else None
        ),
        "transfer_group": f"group_{intent_id}" if transfer_destination is not None else None,
    }


def charge(
    intent: dict[str, Any],
    *,
    charge_id: str,
    payment_method: str,
    method_details: dict[str, Any],
    billing_email: str | None,
    receipt_url: str,
    created: int,
) -> dict[str, Any]:
    """A captured, succeeded charge for the whole PaymentIntent amount."""
    fee = intent["application_fee_amount"]
    transfer = intent["transfer_data"]
    return {
        "id": charge_id,
        "object": "charge",
        "amount": intent["amount"],
        "amount_captured": intent["amount"],
        "amount_refunded": 0,
        "application": None,
        "application_fee": f"fee_{charge_id.removeprefix('ch_')}" if fee is not None else None,
        "application_fee_amount": fee,
        "balance_transaction": f"txn_{charge_id.removeprefix('ch_')}",
        "billing_details": {
            "address": dict(_EMPTY_ADDRESS, country="US"),
            "email": billing_email,
            "name": "Sandbox Buyer",
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "SANDBOX",
        "captured": True,
        "created": created,
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": intent["livemode"],
        "metadata": dict(intent["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": intent["id"],
        "payment_method": payment_method,
        "payment_method_details": method_details,
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": receipt_url,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": (
            {"amount": None, "destination": transfer["destination"]} if transfer else None
        ),
        "transfer_group": intent["transfer_group"],
    }


def card_details(amount: int) -> dict[str, Any]:
    """Stripe's 4242 test Visa, as `payment_method_details`."""
    return {
        "type": "card",
        "card": {
            "amount_authorized": amount,
            "authorization_code": None,
            "brand": "visa",
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "exp_month": 12,
            "exp_year": 2034,
            "extended_authorization": {"status": "disabled"},
            "fingerprint": "SandboxVisa4242",
            "funding": "credit",
            "incremental_authorization": {"status": "unavailable"},
            "installments": None,
            "last4": "4242",
            "mandate": None,
            "multicapture": {"status": "unavailable"},
            "network": "visa",
            "network_token": {"used": False},
            "network_transaction_id": None,
            "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
            "regulated_status": "unregulated",
            "three_d_secure": None,
            "transaction_link_id": None,
            "wallet": None,
        },
    }


def bank_debit_details() -> dict[str, Any]:
    """A US bank account debit, the usual delayed-notification method."""
    return {
        "type": "us_bank_account",
        "us_bank_account": {
            "account_holder_type": "individual",
            "account_type": "checking",
            "bank_name": "STRIPE TEST BANK",
            "fingerprint": "SandboxBank6789",
            "last4": "6789",
            "routing_number": "110000000",
        },
    }


def refund(
    paid_charge: dict[str, Any],
    *,
    refund_id: str,
    amount: int,
    reason: str | None,
    metadata: dict[str, str],
    transfer_reversal: str | None,
    created: int,
    status: str = "succeeded",
) -> dict[str, Any]:
    """A refund as created: `succeeded` at once, as test-mode card refunds are, or `pending`.

    A pending refund says why (`pending_reason: processing`) until it settles or fails.
    """
    method_type = paid_charge["payment_method_details"]["type"]
    if method_type == "card":
        destination: dict[str, Any] = {"type": "card", "card": {"type": "refund"}}
    else:
        destination = {"type": method_type, method_type: {}}
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": f"txn_{refund_id.removeprefix('re_')}",
        "charge": paid_charge["id"],
        "created": created,
        "currency": paid_charge["currency"],
        "customer": paid_charge["customer"],
        "customer_account": None,
        "destination_details": destination,
        "failure_reason": None,
        "metadata": metadata,
        "payment_intent": paid_charge["payment_intent"],
        "payment_method": paid_charge["payment_method"],
        "pending_reason": "processing" if status == "pending" else None,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": transfer_reversal,
    }


_EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


def dispute(
    disputed_charge: dict[str, Any],
    *,
    dispute_id: str,
    amount: int,
    reason: str,
    status: str,
    due_by: int,
    created: int,
) -> dict[str, Any]:
    """A dispute just opened on a charge, no evidence submitted yet.

    `is_charge_refundable` is true only for inquiries (`warning_*`): a chargeback's
    money is already withdrawn, so Stripe refuses to refund the charge as well.
    """
    details = disputed_charge["payment_method_details"]
    if details["type"] == "card":
        card = details["card"]
        method: dict[str, Any] = {
            "type": "card",
            "card": {
                "brand": card["brand"],
                "case_type": "inquiry" if status.startswith("warning_") else "chargeback",
                "network": card["network"],
                "network_reason_code": "10.4" if reason == "fraudulent" else "13.1",
            },
        }
    else:
        method = {"type": details["type"]}
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": disputed_charge["id"],
        "created": created,
        "currency": disputed_charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {**dict.fromkeys(_EVIDENCE_FIELDS), "enhanced_evidence": {}},
        "evidence_details": {
            "due_by": due_by,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
            "submission_method": "not_submitted",
        },
        "is_charge_refundable": status.startswith("warning_"),
        "livemode": disputed_charge["livemode"],
        "metadata": {},
        "payment_intent": disputed_charge["payment_intent"],
        "payment_method_details": method,
        "reason": reason,
        "status": status,
    }


def event(
    *,
    event_id: str,
    event_type: str,
    obj: dict[str, Any],
    account: str | None,
    livemode: bool,
    created: int,
    request_id: str | None,
    idempotency_key: str | None,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A snapshot event; `account` is present only for events on a connected account,
    `data.previous_attributes` only when given (Stripe sends it on `*.updated` events)."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    body: dict[str, Any] = {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": event_type,
    }
    if account is not None:
        body["account"] = account
    return body
