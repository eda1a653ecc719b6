"""The score of a mutation run, per module: `mutmut results --all true | python -m ...`.

Scored as mutmut's own badge does: killed and timed-out mutants count as caught, out of
all mutants but the skipped ones. Survivors are listed by name, for `mutmut show NAME`.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable

CAUGHT = ("killed", "timeout")
LINE = re.compile(r"^\s*(?P<name>\S+): (?P<status>.+?)\s*$")
MODULE = re.compile(r"^(?P<module>.+?)\.x[_ǁ]")


def summarize(lines: Iterable[str]) -> tuple[str, bool]:
    """The report, and whether every mutant was checked."""
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: list[str] = []
    for line in lines:
        found = LINE.match(line)
        if found is None:
            continue
        name, status = found["name"], found["status"]
        module = MODULE.match(name)
        by_module[module["module"] if module else name][status] += 1
        if status == "survived":
            survivors.append(name)
    report = [f"{'module':<32} {'caught':>8} {'total':>6} {'score':>7}  other"]
    everything: Counter[str] = Counter()
    for module in sorted(by_module):
        report.append(_row(module, by_module[module]))
        everything.update(by_module[module])
    report.append(_row("total", everything))
    report += ["", f"{len(survivors)} survived:", *(f"  {name}" for name in survivors)]
    return "\n".join(report), everything["not checked"] == 0


def _row(label: str, counts: Counter[str]) -> str:
    caught = sum(counts[s] for s in CAUGHT)
    scored = sum(counts.values()) - counts["skipped"]
    score = f"{100 * caught / scored:.1f}%" if scored else "-"
    other = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in CAUGHT)
    return f"{label:<32} {caught:>8} {scored:>6} {score:>7}  {other}"


def main() -> int:
    report, complete = summarize(sys.stdin)
    print(report)
    if not complete:
        print("\nsome mutants were not checked: the run was interrupted or filtered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
