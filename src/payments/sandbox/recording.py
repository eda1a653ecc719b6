"""A log of every request the sandbox received, for tests to assert on."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class RecordedRequest:
    """One request as received. `status` is 0 while the request is still being answered."""

    method: str
    path: str
    query: dict[str, Any]
    form: dict[str, Any]
    headers: dict[str, str]
    account: str | None
    idempotency_key: str | None
    status: int = 0


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RecordedRequest] = []

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def start(self, entry: RecordedRequest) -> None:
        """Log on arrival, so the order is the order requests were sent in."""
        with self._lock:
            self._entries.append(entry)

    def finish(self, entry: RecordedRequest, status: int) -> None:
        with self._lock:
            entry.status = status

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return copy.deepcopy(self._entries)
