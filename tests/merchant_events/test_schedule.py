"""The retry schedule: eleven attempts over about three days, each wait jittered by ±20%."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments.merchant_events import schedule


@pytest.mark.parametrize("attempt", range(1, 11))
def test_each_wait_is_its_table_entry_within_20_percent(attempt: int) -> None:
    """After attempt n the wait is the table's n-th delay, ±20%."""
    base = schedule.RETRY_DELAYS[attempt - 1]
    for _ in range(50):
        delay = schedule.delay_after(attempt)
        assert delay is not None
        assert base * 0.8 <= delay <= base * 1.2


def test_the_eleventh_failure_is_the_last() -> None:
    """No wait after attempt 11: the delivery is dead."""
    assert schedule.MAX_ATTEMPTS == 11
    assert schedule.delay_after(10) is not None
    assert schedule.delay_after(11) is None


def test_the_schedule_spans_about_three_days() -> None:
    """From the first attempt to the last: between 70 and 74 hours before jitter."""
    total = sum(schedule.RETRY_DELAYS, timedelta())
    assert timedelta(hours=70) <= total <= timedelta(hours=74)
    assert list(schedule.RETRY_DELAYS) == sorted(schedule.RETRY_DELAYS)


def test_described_as_the_readme_quotes_it() -> None:
    """The one-line form of the table."""
    assert schedule.describe() == "at once, 10s, 1m, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 20h"
