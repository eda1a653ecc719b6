"""Which refund transitions are allowed, and what a refund does to its order's status.

A refund's status only moves forward: pending, then succeeded, failed or canceled; a
succeeded refund may still fail later (Stripe: a card that can no longer take it). An
event that would move it back (a late `refund.created` saying pending after
`refund.updated` said succeeded) changes nothing.
"""

from __future__ import annotations

from payments.models import OrderStatus
from payments.models import RefundReason as R
from payments.models import RefundStatus as S

ALLOWED_FROM: dict[S, frozenset[S]] = {
    S.PENDING: frozenset(),
    S.SUCCEEDED: frozenset({S.PENDING}),
    S.FAILED: frozenset({S.PENDING, S.SUCCEEDED}),
    S.CANCELED: frozenset({S.PENDING}),
}

# These count against what remains refundable: money is on its way back or went back.
COUNTED = frozenset({S.PENDING, S.SUCCEEDED})

# The service's own refunds of a payment the order could not keep: they ask the provider
# for whatever remains of the payment, not for an amount.
WHOLE_REMAINDER = frozenset({R.OUT_OF_STOCK, R.CURRENCY_MISMATCH, R.AMOUNT_MISMATCH})

# Orders whose payment was kept: refunds move them among these by what was given back.
KEPT = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED})


def may_move(current: S, to: S) -> bool:
    return current in ALLOWED_FROM[to]


def order_status_for(amount_refunded: int, amount_paid: int) -> OrderStatus:
    """The status of a kept payment from what went back: `refunded` only when all of it did."""
    if amount_refunded <= 0:
        return OrderStatus.PAID
    if amount_refunded < amount_paid:
        return OrderStatus.PARTIALLY_REFUNDED
    return OrderStatus.REFUNDED
