"""Which order transitions are allowed: each target lists the states it may come from.

Every transition is a conditional UPDATE from these states, so nothing ever
moves backwards and, of two racing callers, only one wins.
"""

from __future__ import annotations

from payments.models import OrderStatus as S

OPEN = frozenset({S.PENDING, S.PROCESSING})

# A payment arriving settles these, whichever way: money received is the strongest fact
# we can learn, even if a weaker signal closed the order first (Stripe should never send
# both). A payment the order's rules allow moves them to PAID; one they do not allow, to
# REFUND_PENDING.
UNPAID = frozenset({S.PENDING, S.PROCESSING, S.FAILED, S.EXPIRED})

ALLOWED_FROM: dict[S, frozenset[S]] = {
    S.PROCESSING: frozenset({S.PENDING}),
    S.PAID: UNPAID,
    S.FAILED: OPEN,
    S.EXPIRED: frozenset({S.PENDING}),
    S.REFUND_PENDING: UNPAID | {S.PAID},
    # The service's refund of a payment the order could not keep went out.
    S.REFUNDED: frozenset({S.REFUND_PENDING}),
}

# A kept payment (paid, partially_refunded, refunded) moves among its three states with
# what was given back, not by this table: `refunds.repository.add_refunded` derives the
# status from `amount_refunded` in the same UPDATE, so a refund that fails later, giving
# its amount back to what remains refundable, takes a `refunded` order back to
# `partially_refunded` or `paid`. It never leaves those three. Likewise a payment the
# order could not keep goes from `refunded` back to `refund_pending` if the service's
# refund of it fails at the provider (`refunds.repository.reopen_owed`).
