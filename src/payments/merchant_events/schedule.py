"""When a failed delivery is tried again: about three days in all, then it is dead.

The delays grow quickly at first (a receiver that restarts or has a short outage gets
the event within minutes) and then slowly (one that is down for a day still gets it).
Each is jittered by ±20% so the deliveries of an outage do not all come back at once.
"""

from __future__ import annotations

import random
from datetime import timedelta

# The wait after each failed attempt, by attempt number: after attempt 1 (made at once),
# 10 s; after attempt 10, 20 h. Attempt 11 is the last: after it fails the delivery is dead.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=20),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2


def delay_after(attempt: int) -> timedelta | None:
    """The wait before the next attempt once attempt number `attempt` (1 is the first)
    failed, jittered; None when it was the last and the delivery is dead."""
    if attempt < 1:
        raise ValueError(f"attempts are numbered from 1, not {attempt}")
    if attempt >= MAX_ATTEMPTS:
        return None
    jitter = random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 (spreading load, not crypto)
    return RETRY_DELAYS[attempt - 1] * jitter


def describe() -> str:
    """The schedule in one line, as the README quotes it: `at once, 10s, 1m, 5m, ...`."""
    return ", ".join(["at once", *(_short(delay) for delay in RETRY_DELAYS)])


def _short(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
