"""confirm_payment's common case in one round trip: a payment its order's rules allow.

Most signals a busy service gets are "paid" for a pending order, or the same event
again. On Postgres these run as ONE statement, without BEGIN or COMMIT: a statement
is atomic on its own, so it changes all of the below or nothing. It does what the
general path (`confirm.confirm_payment` in a transaction, then the event recorded)
does in these cases, taking its locks in the same order (the order's row, its
products in id order, the event id), so the two paths never deadlock each other:

1. `seen`: the event id is recorded already: a duplicate, nothing else runs.
2. `target`: lock the order the checkout belongs to (its account too) if the
   payment is one its rules allow (`repository.accepts_payment`: its currency;
   its total, or up to it with promotion codes) and it is unpaid (`states.UNPAID`).
3. `stock`: lock its limited products in id order.
4. `paid`: move it to paid, only if every one of them has the stock it needs.
5. `taken`: take that stock, computed from the values `stock` read under the lock.
   Not from the row this UPDATE finds: it finds rows through the statement's
   snapshot, which may predate a restock committed while `stock` waited for the
   lock; a filter on that row would skip it, a value from it would be stale
   (tests/orders/test_paid_at_once_races.py). `paid` checked those values, and the
   table's CHECK stays the last line.
6. `settled`: or a payment its rules allow settled it before (verify came first):
   nothing changes.
7. `recorded`: the event id, with what it did.
8. `told`: the shop's `order.paid` (payments.merchant_events.record), with one delivery
   per endpoint subscribed to it (`listening`), if the payment paid the order. Its `data`
   cannot be rendered here: the event keeps the rows as they are after the change
   (`snapshot`), and the sender renders them.

Anything else (the stock ran out, a payment the rules refuse, an unknown
checkout, another delivery of the same event holding the order) changes nothing
here and the answer is None: the caller takes the general path, which handles
every case. tests/orders/test_paid_at_once.py holds the two paths to the same result.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog

from payments.db import Database
from payments.merchant_events.types import ALL, EventType
from payments.models import ConfirmedVia, DeliveryStatus, OrderStatus
from payments.orders.states import UNPAID
from payments.providers.base import Outcome, PaymentSignal

log = structlog.get_logger(__name__)

# Built once at import from the one definition of the states (states.UNPAID).
_UNPAID = ", ".join(f"'{status.value}'" for status in sorted(UNPAID))

# $1 checkout session, $2 its account, $3 currency, $4 amount paid, $5 payment id, $6 via;
# with an event: $7 provider, $8 event id, $9 endpoint, $10 type, $11 livemode.
_ORDER = """
    FROM orders
    WHERE provider_session_id = $1::text
      AND provider_account IS NOT DISTINCT FROM $2::text
      AND currency = $3::text
      AND (amount_total = $4::bigint OR (allow_promotion_codes AND amount_total >= $4::bigint))
"""

# The rows of one of the order's tables, as the snapshot of an event keeps them.
_ROWS = (
    "(SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.{key}), '[]'::jsonb)"
    " FROM {table} r WHERE r.order_id = p.id)"
)

# The f-strings below join constants of this module; every value is a bound parameter.
_PAY = f"""
target AS MATERIALIZED (
    SELECT id {_ORDER} AND status IN ({_UNPAID}) AND NOT EXISTS (SELECT FROM seen)
    FOR UPDATE
),
stock AS MATERIALIZED (
    SELECT p.id, p.stock, i.quantity
    FROM products p JOIN order_items i ON i.product_id = p.id
    WHERE i.order_id = (SELECT id FROM target) AND p.stock IS NOT NULL
    ORDER BY p.id
    FOR UPDATE OF p
),
paid AS (
    UPDATE orders
    -- updated_at as models.touched writes it: always after the row's previous change.
    SET status = '{OrderStatus.PAID.value}', amount_paid = $4::bigint,
        provider_payment_id = $5::text, confirmed_via = $6::text,
        paid_at = now(), updated_at = greatest(now(), updated_at + interval '1 microsecond'),
        cancel_reason = NULL
    WHERE id = (SELECT id FROM target) AND status IN ({_UNPAID})
      AND NOT EXISTS (SELECT FROM stock WHERE stock < quantity)
    RETURNING *
),
taken AS (
    UPDATE products p SET stock = s.stock - s.quantity
    FROM stock s
    WHERE p.id = s.id AND EXISTS (SELECT FROM paid)
    RETURNING p.id
),
settled AS (
    SELECT id, status {_ORDER} AND status NOT IN ({_UNPAID}) AND NOT EXISTS (SELECT FROM seen)
),
listening AS (
    SELECT id FROM webhook_endpoints
    WHERE deleted_at IS NULL AND disabled_at IS NULL
      AND (events ? '{EventType.ORDER_PAID.value}' OR events ? '{ALL}')
      AND EXISTS (SELECT FROM paid)
),
told AS (
    INSERT INTO merchant_events (id, type, order_id, snapshot)
    SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), '{EventType.ORDER_PAID.value}',
           p.id,
           jsonb_build_object(
               'order', to_jsonb(p),
               'items', {_ROWS.format(table="order_items", key="product_id")},
               'refunds', {_ROWS.format(table="refunds", key="created_at, r.id")},
               'disputes', {_ROWS.format(table="disputes", key="created_at, r.id")})
    FROM paid p WHERE EXISTS (SELECT FROM listening)
    RETURNING id
),
delivering AS (
    INSERT INTO event_deliveries (id, event_id, endpoint_id, status)
    SELECT gen_random_uuid(), told.id, listening.id, '{DeliveryStatus.PENDING.value}'
    FROM told CROSS JOIN listening
)"""  # noqa: S608

_ANSWER = """
SELECT (SELECT outcome FROM seen) AS seen,
       (SELECT id FROM paid) AS paid,
       (SELECT id FROM settled) AS settled,
       (SELECT status FROM settled) AS settled_status,
       EXISTS (SELECT FROM told) AS told
"""

WITH_EVENT = f"""
WITH seen AS (
    SELECT outcome FROM webhook_events WHERE provider = $7::text AND event_id = $8::text
),
{_PAY},
recorded AS (
    INSERT INTO webhook_events (provider, event_id, endpoint, type, account, livemode, outcome)
    SELECT $7::text, $8::text, $9::text, $10::text, $2::text, $11::boolean, outcome
    FROM (SELECT 'paid' AS outcome FROM paid
          UNION ALL SELECT 'already_processed' FROM settled) AS done
    ON CONFLICT DO NOTHING
)
{_ANSWER}"""  # noqa: S608

WITHOUT_EVENT = f"""
WITH seen AS (SELECT NULL::text AS outcome WHERE false),
{_PAY}
{_ANSWER}"""


@dataclass(frozen=True)
class EventToRecord:
    """The webhook event a signal came in, recorded with what it did (`webhook_events`)."""

    provider: str
    event_id: str
    endpoint: str
    type: str
    livemode: bool


@dataclass(frozen=True)
class AtOnce:
    """What the statement did: a duplicate event, or the order's status and whether it was
    this payment that paid it; None for both when the general path must decide."""

    duplicate: bool = False
    order_id: uuid.UUID | None = None
    status: OrderStatus | None = None
    paid_now: bool = False


NOT_DECIDED = AtOnce()


async def confirm_paid(
    database: Database,
    signal: PaymentSignal,
    *,
    via: ConfirmedVia,
    event: EventToRecord | None = None,
) -> AtOnce:
    """Run the one statement (see the module's docstring) if it can decide this signal:
    on Postgres, for a payment; otherwise, NOT_DECIDED at once."""
    if not (database.is_postgres and _is_payment(signal)):
        return NOT_DECIDED
    values: tuple[object, ...] = (
        signal.session_id,
        signal.account,
        signal.currency,
        signal.amount_paid,
        signal.payment_id,
        via.value,
    )
    if event is not None:
        values += (event.provider, event.event_id, event.endpoint, event.type, event.livemode)
    async with database.driver_connection() as connection:
        row = await connection.fetchrow(WITHOUT_EVENT if event is None else WITH_EVENT, *values)
    if row["told"] and database.on_events_write:
        database.on_events_write()
    if row["seen"] is not None:
        return AtOnce(duplicate=True)
    if row["paid"] is not None:
        log.info("payment.confirmed", order_id=str(row["paid"]), via=via)
        return AtOnce(order_id=row["paid"], status=OrderStatus.PAID, paid_now=True)
    if row["settled"] is not None:
        return AtOnce(order_id=row["settled"], status=OrderStatus(row["settled_status"]))
    return NOT_DECIDED


def _is_payment(signal: PaymentSignal) -> bool:
    return (
        signal.outcome is Outcome.PAID
        and signal.currency is not None
        and signal.amount_paid is not None
        and signal.amount_paid >= 0
    )
