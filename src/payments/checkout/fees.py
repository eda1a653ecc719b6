"""The platform's fee on a seller's sale."""

from __future__ import annotations


def application_fee(amount: int, fee_bps: int) -> int:
    """The platform's cut of what the buyer pays: `fee_bps` of `amount`, in minor units,
    rounded half up (0.5 of a unit and more up, less down). Integers only, never floats.

    Stripe fixes `application_fee_amount` when the session is created, so the fee is
    only right if the buyer pays exactly `amount`: an order with a fee therefore takes
    no promotion codes (see `_create_order`), and one whose fee rounds to 0 may.
    """
    return (amount * fee_bps + 5_000) // 10_000
