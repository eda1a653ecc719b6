"""What the demo shop received: the newest deliveries, in memory.

Memory is enough for a sandbox: the list is there to watch the loop work, and a restart
empties it (the page says so). Bounded, so a long-running sandbox does not grow.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

KEEP = 100


@dataclass(frozen=True)
class Received:
    """One delivery as the shop saw it. Fields come from the body and headers, as sent;
    for an unverified delivery they are whatever the sender claimed."""

    received_at: datetime
    webhook_id: str | None
    type: str | None
    order_id: str | None
    status: str | None  # the `status` of the object in `data`
    verified: bool


class Inbox:
    def __init__(self, keep: int = KEEP) -> None:
        self._received: deque[Received] = deque(maxlen=keep)

    def add(self, received: Received) -> None:
        """Keep it; past `keep` deliveries the oldest goes."""
        self._received.appendleft(received)

    def newest_first(self) -> list[Received]:
        return list(self._received)
