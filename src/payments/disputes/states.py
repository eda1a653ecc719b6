"""How far along a dispute is, so that a late event never moves it back.

Stripe's statuses in order: an inquiry, a dispute needing a response, under review,
an appeal (newer API versions), then closed (won, lost, warning_closed, prevented), which
is final. A status this table does not know ranks lowest: it is stored for a dispute
seen for the first time, and never replaces a known one.
"""

from __future__ import annotations

from enum import StrEnum

RANK: dict[str, int] = {
    # An inquiry (warning_*) may turn into a chargeback, which is further along.
    "warning_needs_response": 1,
    "warning_under_review": 2,
    "needs_response": 3,
    "under_review": 4,
    "appeal_needs_response": 5,
    "appeal_under_review": 6,
    "won": 9,
    "lost": 9,
    "warning_closed": 9,
    "prevented": 9,
}
FINAL = 9

# Disputes waiting for the merchant's evidence.
NEEDS_RESPONSE = frozenset({"needs_response", "warning_needs_response", "appeal_needs_response"})


def rank(status: str) -> int:
    return RANK.get(status, 0)


def moves_forward(current: str, new: str) -> bool:
    """Whether an observation saying `new` may replace `current`: further along, or as far
    along and not closed (a new evidence deadline for a dispute still open)."""
    if rank(current) >= FINAL:
        return False
    return rank(new) > rank(current) or (rank(new) == rank(current) and new == current)


class Status(StrEnum):
    """The statuses this service knows, for filtering (stored statuses may be newer)."""

    WARNING_NEEDS_RESPONSE = "warning_needs_response"
    WARNING_UNDER_REVIEW = "warning_under_review"
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    APPEAL_NEEDS_RESPONSE = "appeal_needs_response"
    APPEAL_UNDER_REVIEW = "appeal_under_review"
    WON = "won"
    LOST = "lost"
    WARNING_CLOSED = "warning_closed"
    PREVENTED = "prevented"


# A chargeback still open: the provider refuses refunds of its charge meanwhile (an
# inquiry, `warning_*`, does not stop a refund, which closes it).
BLOCKS_REFUNDS = frozenset(
    {"needs_response", "under_review", "appeal_needs_response", "appeal_under_review"}
)
