"""Secret-key authentication, shared by the /v1 API and the /_sandbox control endpoints."""

from __future__ import annotations

from payments.sandbox.errors import authentication


def check_api_key(authorization: str, *, livemode: bool) -> None:
    """Accept `Bearer sk_<mode>_...` or `rk_<mode>_...`; raise Stripe's 401 otherwise."""
    scheme, _, api_key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not api_key:
        raise authentication(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    mode = "live" if livemode else "test"
    if not api_key.startswith((f"sk_{mode}_", f"rk_{mode}_")):
        raise authentication(f"Invalid API Key provided: {_redact(api_key)}")


def _redact(api_key: str) -> str:
    """Stripe echoes only the key's prefix and last four characters."""
    prefix = api_key[:8]
    return f"{prefix}{'*' * max(len(api_key) - 12, 4)}{api_key[-4:]}"
