"""`checkout.session.completed` events for the bench's orders, signed as Stripe signs them.

The session object has the shape Stripe sends (the fields of a real Checkout Session,
from Stripe's published fixtures), completed and paid: `payment_status` "paid", mode
"payment", the order's `amount_total` and currency, a PaymentIntent id and the order's
session id. A Connect event carries the top-level `account` and goes to the Connect
endpoint, signed with its secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from bench.load import http_request
from bench.orders import CURRENCY, Order

API_VERSION = "2025-09-30.clover"
PLATFORM_PATH = "/webhooks/stripe"
CONNECT_PATH = "/webhooks/stripe/connect"


@dataclass(frozen=True)
class Secrets:
    platform: str
    connect: str


SECRETS = Secrets(platform="whsec_bench_platform_0123456789", connect="whsec_bench_connect_987")


@dataclass(frozen=True)
class Delivery:
    """One event as the bench delivers it: where to, and the exact bytes that are signed."""

    order: Order
    path: str
    body: bytes

    @property
    def connect(self) -> bool:
        return self.path == CONNECT_PATH


def completed_session(order: Order, created: int) -> dict[str, Any]:
    """A completed, paid Checkout Session for `order`, in Stripe's shape."""
    return {
        "id": order.session_id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": False,
        "amount_subtotal": order.amount_total,
        "amount_total": order.amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": "https://shop.example/checkout/cancel",
        "client_reference_id": str(order.id),
        "client_secret": None,
        "collected_information": {"business_name": None, "individual_name": None},
        "consent": None,
        "consent_collection": None,
        "created": created - 60,
        "currency": CURRENCY,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_account": None,
        "customer_creation": "if_required",
        "customer_details": {
            "address": {
                "city": None,
                "country": "US",
                "line1": None,
                "line2": None,
                "postal_code": "94107",
                "state": None,
            },
            "business_name": None,
            "email": f"buyer-{order.id.hex[:8]}@example.com",
            "individual_name": None,
            "name": "Bench Buyer",
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        },
        "customer_email": f"buyer-{order.id.hex[:8]}@example.com",
        "discounts": [],
        "expires_at": created + 86_340,
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
        "livemode": False,
        "locale": None,
        "managed_payments": {"enabled": False},
        "metadata": {"order_id": str(order.id)},
        "mode": "payment",
        "origin_context": None,
        "payment_intent": order.payment_intent,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "complete",
        "submit_type": None,
        "subscription": None,
        "success_url": "https://shop.example/checkout/success?session_id={CHECKOUT_SESSION_ID}",
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": None,
        "wallet_options": None,
    }


def completed_event(order: Order, created: int) -> dict[str, Any]:
    """The event envelope; `account` only for a Connect (direct charge) order."""
    event: dict[str, Any] = {
        "id": order.event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": {"object": completed_session(order, created)},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
    }
    if order.account is not None:
        event["account"] = order.account
    return event


def deliveries(orders: list[Order]) -> list[Delivery]:
    created = int(time.time())
    return [
        Delivery(
            order,
            CONNECT_PATH if order.account else PLATFORM_PATH,
            json.dumps(completed_event(order, created)).encode(),
        )
        for order in orders
    ]


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` value: HMAC-SHA256 of "t.body" with the endpoint's secret."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def signed_requests(items: list[Delivery], port: int, secrets: Secrets = SECRETS) -> list[bytes]:
    """Whole HTTP requests, signed now: call right before the pass (the tolerance is 300 s)."""
    now = int(time.time())
    return [
        http_request(
            "POST",
            item.path,
            f"127.0.0.1:{port}",
            {
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": signature(
                    item.body, secrets.connect if item.connect else secrets.platform, now
                ),
            },
            item.body,
        )
        for item in items
    ]
