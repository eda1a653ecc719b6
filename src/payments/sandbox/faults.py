"""Injected failures and delays, so the service's retry and timeout paths can be tested.

Rules are consumed in the order they were added by the next matching requests;
a rule matches when the request path starts with its `path_prefix`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TypeVar

from payments.sandbox.errors import ApiError


@dataclass
class _Rule:
    remaining: int
    path_prefix: str


@dataclass
class _FailRule(_Rule):
    status: int
    error_type: str
    code: str | None
    should_retry: bool | None

    def error(self) -> ApiError:
        headers = {}
        if self.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if self.should_retry else "false"
        return ApiError(
            self.status,
            self.error_type,
            "An error was injected by the Stripe sandbox (fail_next).",
            code=self.code,
            headers=headers,
        )


@dataclass
class _DelayRule(_Rule):
    seconds: float


RuleT = TypeVar("RuleT", bound=_Rule)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_FailRule] = []
        self._delays: list[_DelayRule] = []

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._delays.clear()

    def fail_next(
        self,
        count: int,
        *,
        status: int,
        path_prefix: str,
        error_type: str,
        code: str | None,
        should_retry: bool | None,
    ) -> None:
        with self._lock:
            self._failures.append(
                _FailRule(count, path_prefix, status, error_type, code, should_retry)
            )

    def delay_next(self, count: int, seconds: float, *, path_prefix: str) -> None:
        with self._lock:
            self._delays.append(_DelayRule(count, path_prefix, seconds))

    def take_failure(self, path: str) -> ApiError | None:
        """The injected error for this request, if a rule claims it."""
        with self._lock:
            rule = _claim(self._failures, path)
            return rule.error() if rule is not None else None

    def take_delay(self, path: str) -> float:
        """Seconds to hold this request before answering (0 when no rule claims it)."""
        with self._lock:
            rule = _claim(self._delays, path)
            return rule.seconds if rule is not None else 0.0


def _claim(rules: list[RuleT], path: str) -> RuleT | None:
    for rule in rules:
        if rule.remaining > 0 and path.startswith(rule.path_prefix):
            rule.remaining -= 1
            return rule
    return None
