"""Webhook signatures in Stripe's `Stripe-Signature` scheme (v1 = HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header value for `payload`, as Stripe would send it.

    Stripe signs `"{timestamp}.{body}"` with the endpoint's `whsec_` secret; the
    SDK's `WebhookSignature.verify_header` accepts exactly this.
    """
    signed = str(timestamp).encode() + b"." + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
