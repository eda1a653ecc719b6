"""Which order transitions are allowed: each target lists the states it may come from.

Every transition is a conditional UPDATE from these states, so nothing ever
moves backwards and, of two racing callers, only one wins.
"""

from __future__ import annotations

from payments.models import OrderStatus as S

OPEN = frozenset({S.PENDING, S.PROCESSING})

ALLOWED_FROM: dict[S, frozenset[S]] = {
    S.PROCESSING: frozenset({S.PENDING}),
    # Money received is the strongest fact we can learn: it settles an order even
    # if a weaker signal closed it first (Stripe should never send both).
    S.PAID: frozenset({S.PENDING, S.PROCESSING, S.FAILED, S.EXPIRED}),
    S.FAILED: OPEN,
    S.EXPIRED: frozenset({S.PENDING}),
    S.REFUND_PENDING: frozenset({S.PENDING, S.PROCESSING, S.FAILED, S.EXPIRED, S.PAID}),
    S.REFUNDED: frozenset({S.REFUND_PENDING}),
}
