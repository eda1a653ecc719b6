"""signal_from_session: what a Checkout Session says about the money, read from Stripe's shapes
that the sandbox does not send (an expanded PaymentIntent, ids at the column size)."""

from __future__ import annotations

from typing import Any

from payments.providers.base import Outcome
from payments.providers.stripe import signal_from_session


def paid_session(**changes: Any) -> dict[str, Any]:
    session: dict[str, Any] = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 2500,
        "currency": "usd",
        "payment_intent": "pi_test_1",
    }
    session.update(changes)
    return session


def test_expanded_payment_intent_is_read_by_its_id() -> None:
    """`expand[]=payment_intent` turns the id into an object; the payment is still its id."""
    session = paid_session(payment_intent={"id": "pi_test_1", "object": "payment_intent"})

    signal = signal_from_session(session, event_type="checkout.session.completed", account=None)

    assert (signal.outcome, signal.payment_id, signal.amount_paid) == (
        Outcome.PAID,
        "pi_test_1",
        2500,
    )


def test_ids_as_long_as_their_columns_are_read() -> None:
    """Session and PaymentIntent ids of 255 characters fit their columns and are kept."""
    session_id, payment_id = "cs_" + "a" * 252, "pi_" + "b" * 252
    session = paid_session(id=session_id, payment_intent=payment_id)

    signal = signal_from_session(session, event_type=None, account="acct_1")

    assert (signal.session_id, signal.payment_id, signal.account) == (
        session_id,
        payment_id,
        "acct_1",
    )
