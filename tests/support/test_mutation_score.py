"""The score `make mutation` prints, from the lines of `mutmut results --all true`."""

from __future__ import annotations

from tests.support.mutation_score import summarize

RESULTS = """\
    payments.outbox.x_backoff__mutmut_1: killed
    payments.outbox.x_backoff__mutmut_2: survived
    payments.outbox.xǁOutboxWorkerǁ_claim__mutmut_1: timeout
    payments.orders.repository.x_take_stock__mutmut_1: killed
    payments.orders.repository.x_take_stock__mutmut_2: skipped
    payments.orders.repository.x_take_stock__mutmut_3: not checked
"""


def test_score_counts_killed_and_timed_out_of_all_but_skipped_per_module() -> None:
    """Each module's caught/total and the sum, with survivors named for `mutmut show`."""
    report, complete = summarize(RESULTS.splitlines())

    lines = report.splitlines()
    assert lines[1].split()[:4] == ["payments.orders.repository", "1", "2", "50.0%"]
    assert lines[2].split()[:4] == ["payments.outbox", "2", "3", "66.7%"]
    assert lines[3].split()[:4] == ["total", "3", "5", "60.0%"]
    assert lines[-2:] == ["1 survived:", "  payments.outbox.x_backoff__mutmut_2"]
    assert complete is False
