"""signal_from_session with Adaptive Pricing: the amount and currency read are the merchant's
(`currency_conversion` when a session has one), and a conversion that cannot be read makes
a paid session unusable rather than a payment in the buyer's currency."""

from __future__ import annotations

from typing import Any

import pytest

from payments.providers.base import Outcome
from payments.providers.stripe import UnusableSession, signal_from_session
from tests.providers.test_signals import COMPLETED, session

CONVERTED = {
    "amount_subtotal": 2500,
    "amount_total": 2500,
    "fx_rate": "0.9248",
    "source_currency": "USD",
}


def test_conversion_gives_the_merchants_amount_and_currency() -> None:
    """The buyer saw 23.12 EUR; the payment is 25.00 USD, lower-cased like any currency."""
    signal = signal_from_session(
        session(currency="eur", amount_total=2312, currency_conversion=CONVERTED),
        event_type=COMPLETED,
        account=None,
    )

    assert (signal.outcome, signal.amount_paid, signal.currency) == (Outcome.PAID, 2500, "usd")


def test_no_conversion_reads_the_sessions_own_amount() -> None:
    """`currency_conversion: null` (every session created since 2025-03-31) changes nothing."""
    signal = signal_from_session(
        session(currency_conversion=None), event_type=COMPLETED, account=None
    )

    assert (signal.amount_paid, signal.currency) == (2500, "usd")


@pytest.mark.parametrize(
    "conversion",
    [
        "usd",
        {"amount_total": 2500},
        {"source_currency": "usd"},
        {"amount_total": "2500", "source_currency": "usd"},
        {"amount_total": 2500, "source_currency": "us dollars"},
    ],
)
def test_paid_session_with_an_unreadable_conversion_is_unusable(conversion: Any) -> None:
    """The merchant's side is there but cannot be read: never judged by the buyer's currency."""
    with pytest.raises(UnusableSession):
        signal_from_session(
            session(currency="eur", amount_total=2312, currency_conversion=conversion),
            event_type=COMPLETED,
            account=None,
        )
