"""Stripe-looking identifiers: a prefix, an underscore and random alphanumerics."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """A fresh id such as `pi_3Pq...`; random so ids never collide across resets."""
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def request_id() -> str:
    return new_id("req", 14)
