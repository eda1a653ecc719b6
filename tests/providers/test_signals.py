"""signal_from_session: what a Checkout Session says about the money, and when it says
nothing usable. Free means no PaymentIntent; a paid signal always has an amount and a currency."""

from __future__ import annotations

from typing import Any

import pytest

from payments.providers.base import Outcome
from payments.providers.stripe import UnusableSession, signal_from_session

COMPLETED = "checkout.session.completed"


def session(**changes: Any) -> dict[str, Any]:
    """A payment-mode session completed by card for 25.00 USD."""
    return {
        "id": "cs_test_a",
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 2500,
        "currency": "usd",
        "payment_intent": "pi_a",
        **changes,
    }


def test_paid_session_carries_its_amount_currency_and_payment() -> None:
    """The domain needs all three to decide whether the payment fits the order."""
    signal = signal_from_session(session(), event_type=COMPLETED, account="acct_1")

    assert (signal.outcome, signal.amount_paid, signal.currency, signal.payment_id) == (
        Outcome.PAID,
        2500,
        "usd",
        "pi_a",
    )
    assert signal.account == "acct_1"


def test_currency_is_lower_cased() -> None:
    """Stripe's currencies are lower-case ISO codes; compare them that way."""
    assert signal_from_session(session(currency="EUR"), event_type=None, account=None).currency == (
        "eur"
    )


@pytest.mark.parametrize("amount_total", [None, "2500", 25.0, True])
def test_paid_session_with_a_payment_intent_and_no_integer_amount_is_unusable(
    amount_total: Any,
) -> None:
    """Money moved but we cannot tell how much: never read as a free order."""
    with pytest.raises(UnusableSession):
        signal_from_session(session(amount_total=amount_total), event_type=COMPLETED, account=None)


@pytest.mark.parametrize("currency", [None, "", "us", "usdollar", 840, "u$d"])
def test_paid_session_without_a_currency_code_is_unusable(currency: Any) -> None:
    """An amount means nothing without its currency."""
    with pytest.raises(UnusableSession):
        signal_from_session(session(currency=currency), event_type=COMPLETED, account=None)


def test_paid_session_without_a_payment_intent_but_an_amount_due_is_unusable() -> None:
    """Nothing was charged, yet 25.00 was due: that is no payment and no free order."""
    with pytest.raises(UnusableSession):
        signal_from_session(session(payment_intent=None), event_type=COMPLETED, account=None)


@pytest.mark.parametrize("payment_status", ["paid", "no_payment_required"])
def test_nothing_due_and_no_payment_intent_is_a_free_order(payment_status: str) -> None:
    """A 100% promotion code: paid, amount 0, no payment to refund."""
    signal = signal_from_session(
        session(amount_total=0, payment_intent=None, payment_status=payment_status),
        event_type=COMPLETED,
        account=None,
    )

    assert (signal.outcome, signal.amount_paid, signal.payment_id) == (Outcome.PAID, 0, None)


def test_unpaid_session_needs_no_amount() -> None:
    """A bank debit still settling confirms nothing yet, so a missing amount does not matter."""
    signal = signal_from_session(
        session(payment_status="unpaid", amount_total=None, currency=None),
        event_type=COMPLETED,
        account=None,
    )

    assert (signal.outcome, signal.amount_paid) == (Outcome.PROCESSING, None)
