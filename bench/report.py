"""The one table `make bench` prints: every part's numbers, the ratios, the targets.

Targets (issue 7) are reported as met or NOT met; they never fail the bench.
Correctness does (bench/checks.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.stats import PassResult

# A second run of the same growth level has this suffix on its key (bench/run.py).
AGAIN = "-again"

# Growth: "no drop from 1k to 100k stored orders". Two runs of the same pass differ by
# several percent on this shared machine, so a drop counts only beyond this noise.
GROWTH_NOISE = 0.9


@dataclass(frozen=True)
class Row:
    key: str  # what ratios refer to, e.g. "A1", "A1dup", "G100k"
    label: str
    result: PassResult | None  # None: the part failed before it measured
    ok: bool  # the checks after the pass held


@dataclass(frozen=True)
class Target:
    name: str
    rule: str
    met: Callable[[float], bool]
    value: Callable[[dict[str, PassResult]], float | None]
    unit: str = ""


def _ratio(a: str, b: str) -> Callable[[dict[str, PassResult]], float | None]:
    def value(results: dict[str, PassResult]) -> float | None:
        if a not in results or b not in results or results[b].rate == 0:
            return None
        return results[a].rate / results[b].rate

    return value


def _growth(largest: str, smallest: str) -> Callable[[dict[str, PassResult]], float | None]:
    """The largest level's rate over the mean of the smallest level's two runs."""

    def value(results: dict[str, PassResult]) -> float | None:
        keys = (largest, smallest, smallest + AGAIN)
        if any(key not in results for key in keys) or results[smallest].rate == 0:
            return None
        baseline = (results[smallest].rate + results[smallest + AGAIN].rate) / 2
        return results[largest].rate / baseline

    return value


def _p99(key: str) -> Callable[[dict[str, PassResult]], float | None]:
    def value(results: dict[str, PassResult]) -> float | None:
        return results[key].p99_ms if key in results else None

    return value


def targets(smallest: str, largest: str) -> list[Target]:
    """Issue 7's targets; growth compares the smallest and largest stored-order levels."""
    return [
        Target("A1 / D  (service vs. HTTP limit)", ">= 0.5", lambda v: v >= 0.5, _ratio("A1", "D")),
        Target(
            "A1 / C  (service vs. common FastAPI)", ">= 2.5", lambda v: v >= 2.5, _ratio("A1", "C")
        ),
        Target(
            "A1 / B  (service vs. database limit)", "reported", lambda v: True, _ratio("A1", "B")
        ),
        # The standard holds with the shop's events on too: a deployment that uses them.
        Target("E / D   (with a shop endpoint)", ">= 0.5", lambda v: v >= 0.5, _ratio("E", "D")),
        Target("E / A1  (cost of the events)", "reported", lambda v: True, _ratio("E", "A1")),
        Target("A2 / A1 (2 workers vs. 1)", ">= 1.3", lambda v: v >= 1.3, _ratio("A2", "A1")),
        Target(
            "duplicates / first (1 worker)", ">= 1.0", lambda v: v >= 1.0, _ratio("A1dup", "A1")
        ),
        Target("p99 at 100 events/s offered", "< 20 ms", lambda v: v < 20, _p99("L"), " ms"),
        Target(
            f"growth {largest} / {smallest} stored (mean of 2 runs)",
            f">= {GROWTH_NOISE} (no drop)",
            lambda v: v >= GROWTH_NOISE,
            _growth(f"G{largest}", f"G{smallest}"),
        ),
    ]


def table(title: str, rows: list[Row], growth: tuple[str, str], *, judged: bool = True) -> str:
    """The whole report as text; `growth` names the smallest and largest levels ("1k", "100k").

    `judged=False` (the quick run) shows the ratios without verdicts: passes of a few
    dozen events say nothing about the targets.
    """
    head = f"{'part':<52}{'events':>8}{'secs':>8}{'events/s':>10}"
    head += f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'cpu %':>7}  checks"
    lines = [title, "", head, "-" * len(head)]
    for row in rows:
        check = "ok" if row.ok else "FAILED"
        r = row.result
        if r is None:
            lines.append(
                f"{row.label:<52}{'-':>8}{'-':>8}{'-':>10}{'-':>9}{'-':>9}{'-':>9}{'-':>7}  {check}"
            )
            continue
        lines.append(
            f"{row.label:<52}{r.count:>8}{r.seconds:>8.1f}{r.rate:>10.0f}"
            f"{r.p50_ms:>9.1f}{r.p95_ms:>9.1f}{r.p99_ms:>9.1f}{_busy(r):>7}  {check}"
        )
    results = {row.key: row.result for row in rows if row.result is not None and row.ok}
    lines += ["-" * len(head), f"{'ratio / target':<52}{'value':>10}  {'target':<18}verdict"]
    for target in targets(*growth):
        value = target.value(results)
        if value is None:
            shown, verdict = "-", "not measured"
        else:
            shown = f"{value:.1f}{target.unit}" if target.unit else f"{value:.2f}"
            verdict = (
                "-" if target.rule == "reported" else ("met" if target.met(value) else "NOT met")
            )
            if not judged:
                verdict = "(quick run: not judged)"
        lines.append(f"{target.name:<52}{shown:>10}  {target.rule:<18}{verdict}")
    return "\n".join(lines)


def _busy(result: PassResult) -> str:
    return "-" if result.machine_busy is None else f"{result.machine_busy:.0f}"
