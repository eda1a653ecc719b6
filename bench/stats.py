"""What one timed pass produced, in the shape every part reports (generator or B's runner)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PassResult:
    """Counts, wall time and latency percentiles (milliseconds) of one timed pass.

    `outcomes` counts HTTP status codes as strings ("200", "400") or, for B, what the
    statement did ("paid", "duplicate"); `failures` keeps a few examples of what went
    wrong, for the message that fails the bench.
    """

    count: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    outcomes: dict[str, int]
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Completed events per second of wall time."""
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PassResult:
        return cls(**data)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(
    latencies_s: list[float],
    seconds: float,
    outcomes: dict[str, int],
    failures: list[str],
) -> PassResult:
    """Fold per-request latencies (seconds) into a PassResult."""
    ms = sorted(x * 1000 for x in latencies_s)
    return PassResult(
        count=len(ms),
        seconds=seconds,
        p50_ms=percentile(ms, 0.50),
        p95_ms=percentile(ms, 0.95),
        p99_ms=percentile(ms, 0.99),
        max_ms=ms[-1] if ms else 0.0,
        outcomes=dict(sorted(outcomes.items())),
        failures=failures[:5],
    )
