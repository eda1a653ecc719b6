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
    # Share of the machine's CPU (all cores, every process) busy during the pass, 0-100;
    # None where /proc/stat cannot be read. Near 100, the machine is the limit, not the
    # process measured: service, Postgres and the generator share its cores.
    machine_busy: float | None = None

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


class MachineClock:
    """Busy and total CPU time of the whole machine, from /proc/stat (Linux)."""

    def __init__(self) -> None:
        self.start = _cpu_times()

    def busy_percent(self) -> float | None:
        end = _cpu_times()
        if self.start is None or end is None:
            return None
        busy, total = end[0] - self.start[0], end[1] - self.start[1]
        return 100.0 * busy / total if total > 0 else None


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies since boot: busy is all but idle and iowait."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def summarize(
    latencies_s: list[float],
    seconds: float,
    outcomes: dict[str, int],
    failures: list[str],
    machine_busy: float | None = None,
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
        machine_busy=machine_busy,
    )
