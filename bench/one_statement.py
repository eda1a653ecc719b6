"""The whole database work of a paid `checkout.session.completed`, as ONE statement.

What the service does for such an event, in one round trip (B and D run it):

1. `event`: record the event id (primary key, ON CONFLICT DO NOTHING). A duplicate
   stops here: every later step is conditioned on this row being new.
2. `paid`: the guarded transition to paid, exactly the service's WHERE (the order of
   this session on this account, from an unpaid state, in its currency, for its total
   or, with promotion codes, up to it); of concurrent callers only one wins.
3. `locked`: lock the order's limited products FOR UPDATE in product id order (the
   same order as the service, so two payments sharing products cannot deadlock).
4. `taken`: take the stock, all or nothing, still guarded by `stock >= quantity`.

Every CTE sees one snapshot, but row locks and READ COMMITTED re-checks make the
writes see the latest committed rows (FOR UPDATE returns the newest version and the
UPDATE re-evaluates its WHERE on it). The out-of-stock refund and every rarer outcome
are left to the service's general path: the bench gives every product enough stock,
and a `taken` short of `locked` fails the bench.

The event is recorded with outcome 'paid': the statement cannot know the outcome
before the insert that comes first; a duplicate or a mismatch is answered by the
caller without a second statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SQL = """
WITH event AS (
    INSERT INTO webhook_events (provider, event_id, endpoint, type, account, livemode, outcome)
    VALUES ('stripe', $1, $2, $3, $4, $5, 'paid')
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING event_id
), paid AS (
    UPDATE orders
    SET status = 'paid', amount_paid = $6, provider_payment_id = $7, confirmed_via = 'webhook',
        paid_at = now(), updated_at = now(), cancel_reason = NULL
    WHERE provider_session_id = $8
      AND provider_account IS NOT DISTINCT FROM $4
      AND status IN ('pending', 'processing', 'failed', 'expired')
      AND currency = $9
      AND (amount_total = $6 OR (allow_promotion_codes AND amount_total >= $6))
      AND EXISTS (SELECT FROM event)
    RETURNING id
), locked AS (
    SELECT p.id, p.stock, i.quantity
    FROM products p JOIN order_items i ON i.product_id = p.id
    WHERE i.order_id = (SELECT id FROM paid) AND p.stock IS NOT NULL
    ORDER BY p.id
    FOR UPDATE OF p
), taken AS (
    UPDATE products p SET stock = p.stock - l.quantity
    FROM locked l
    WHERE p.id = l.id AND p.stock >= l.quantity
      AND NOT EXISTS (SELECT FROM locked short WHERE short.stock < short.quantity)
    RETURNING p.id
)
SELECT EXISTS (SELECT FROM event) AS new_event,
       (SELECT id FROM paid) AS order_id,
       (SELECT count(*) FROM locked) AS locked,
       (SELECT count(*) FROM taken) AS taken
"""


@dataclass(frozen=True)
class Paid:
    """What a verified `checkout.session.completed` event asks of the database."""

    event_id: str
    endpoint: str  # "platform" or "connect"
    type: str
    account: str | None
    livemode: bool
    amount: int
    payment_intent: str
    session_id: str
    currency: str

    def args(self) -> tuple[Any, ...]:
        """The statement's parameters, $1 to $9."""
        return (
            self.event_id,
            self.endpoint,
            self.type,
            self.account,
            self.livemode,
            self.amount,
            self.payment_intent,
            self.session_id,
            self.currency,
        )


def paid_from_event(event: dict[str, Any], endpoint: str) -> Paid:
    """Read the statement's parameters from a parsed event (KeyError/TypeError if malformed)."""
    session = event["data"]["object"]
    return Paid(
        event_id=event["id"],
        endpoint=endpoint,
        type=event["type"],
        account=event.get("account"),
        livemode=event["livemode"],
        amount=session["amount_total"],
        payment_intent=session["payment_intent"],
        session_id=session["id"],
        currency=session["currency"],
    )


def outcome(row: Any) -> str:
    """What the statement did: paid, duplicate, already_processed, or out_of_stock."""
    if not row["new_event"]:
        return "duplicate"
    if row["order_id"] is None:
        return "already_processed"
    if row["taken"] != row["locked"]:
        return "out_of_stock"  # left to the service's refund path; never in the bench
    return "paid"
