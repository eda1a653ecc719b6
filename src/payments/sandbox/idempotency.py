"""Idempotency keys for POST requests, per account, as Stripe applies them.

A key's first successful result is kept and replayed for the same endpoint and
params. Errors are not kept: every handler here validates before it changes
anything, which matches Stripe's rule that a result is saved only once the
endpoint started executing. While a request holds a key, a second request with
that key gets 409 `idempotency_key_in_use` (which the SDK retries).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from payments.sandbox.errors import ApiError
from payments.sandbox.store import Account


@dataclass(frozen=True)
class SavedResponse:
    endpoint: str
    params: dict[str, Any]
    status: int
    body: dict[str, Any]


class IdempotencyKeys:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saved: dict[tuple[Account, str], SavedResponse] = {}
        self._in_flight: set[tuple[Account, str]] = set()

    def clear(self) -> None:
        with self._lock:
            self._saved.clear()
            self._in_flight.clear()

    def begin(
        self, account: Account, key: str, endpoint: str, params: dict[str, Any]
    ) -> SavedResponse | None:
        """The response to replay, or None after claiming the key for this request.

        Raises the idempotency errors Stripe gives for a busy or mismatched key.
        """
        with self._lock:
            if (account, key) in self._in_flight:
                raise ApiError(
                    409,
                    "idempotency_error",
                    "There is currently another in-progress request using this Idempotent "
                    f"Key (that probably means you submitted twice, and the other request is "
                    f"still going through): {key}. Please try again later.",
                    code="idempotency_key_in_use",
                )
            saved = self._saved.get((account, key))
            if saved is None:
                self._in_flight.add((account, key))
                return None
        if saved.endpoint != endpoint:
            raise ApiError(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used for the same endpoint they "
                f"were first used for ({saved.endpoint}). Try using a key other than '{key}' "
                "if you meant to execute a different request.",
            )
        if saved.params != params:
            raise ApiError(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
            )
        return saved

    def save(
        self,
        account: Account,
        key: str,
        endpoint: str,
        params: dict[str, Any],
        status: int,
        body: dict[str, Any],
    ) -> None:
        """Keep a successful response for replay and release the key."""
        with self._lock:
            self._in_flight.discard((account, key))
            self._saved[(account, key)] = SavedResponse(endpoint, params, status, body)

    def release(self, account: Account, key: str) -> None:
        """Free the key without saving, so a retry runs the request again."""
        with self._lock:
            self._in_flight.discard((account, key))
