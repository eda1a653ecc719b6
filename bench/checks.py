"""What must hold in the database after every pass, or the bench fails.

Speed means nothing if money is wrong: after each pass every delivered order is paid
exactly once (status, amount, payment id), each event id is recorded once, stock is
exactly what it was minus what was sold, and nothing was queued for a refund.
"""

from __future__ import annotations

from collections import Counter

import asyncpg

from bench.orders import Order, sold


async def problems_after_pass(
    conn: asyncpg.Connection,
    delivered: list[Order],
    initial_stock: dict[str, int | None],
    events_before: int,
) -> list[str]:
    """Everything wrong with the database once every order in `delivered` was delivered.

    `initial_stock` is each product's stock before any delivery (by product id as text);
    `events_before` how many webhook events the database held before (history).
    """
    found: list[str] = []
    rows = await conn.fetch(
        "SELECT id, status, amount_total, amount_paid, provider_payment_id, confirmed_via"
        " FROM orders WHERE id = ANY($1::uuid[])",
        [order.id for order in delivered],
    )
    by_id = {row["id"]: row for row in rows}
    wrong: Counter[str] = Counter()
    for order in delivered:
        row = by_id.get(order.id)
        if row is None:
            wrong["missing"] += 1
        elif row["status"] != "paid":
            wrong[f"status {row['status']}"] += 1
        elif row["amount_paid"] != order.amount_total:
            wrong["amount_paid wrong"] += 1
        elif row["provider_payment_id"] != order.payment_intent:
            wrong["payment id wrong"] += 1
        elif row["confirmed_via"] != "webhook":
            wrong[f"confirmed_via {row['confirmed_via']}"] += 1
    found += [f"{n} of {len(delivered)} orders: {what}" for what, n in sorted(wrong.items())]

    recorded = await conn.fetchval(
        "SELECT count(*) FROM webhook_events WHERE provider = 'stripe' AND event_id = ANY($1)",
        [order.event_id for order in delivered],
    )
    if recorded != len(delivered):
        found.append(f"{recorded} webhook_events rows for {len(delivered)} events")
    total = await conn.fetchval("SELECT count(*) FROM webhook_events")
    if total != events_before + len(delivered):
        found.append(
            f"{total} webhook_events rows in all, expected {events_before + len(delivered)}"
        )

    expected = dict(initial_stock)
    for product_id, units in sold(delivered).items():
        before = expected[str(product_id)]
        expected[str(product_id)] = None if before is None else before - units
    stock = {
        str(row["id"]): row["stock"] for row in await conn.fetch("SELECT id, stock FROM products")
    }
    off = [pid for pid, units in expected.items() if stock.get(pid) != units]
    if off:
        pid = off[0]
        found.append(
            f"stock wrong on {len(off)} products (e.g. {pid}: {stock.get(pid)}, "
            f"expected {expected[pid]})"
        )

    queued = await conn.fetchval("SELECT count(*) FROM outbox")
    if queued:
        found.append(f"{queued} outbox messages (refunds) queued; none expected")
    return found


async def stock_now(conn: asyncpg.Connection) -> dict[str, int | None]:
    """Each product's stock (by id as text), before deliveries start."""
    return {
        str(row["id"]): row["stock"] for row in await conn.fetch("SELECT id, stock FROM products")
    }
