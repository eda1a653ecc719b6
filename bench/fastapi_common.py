"""C, the common integration: the webhook handler most FastAPI projects write.

    BENCH_DATABASE_URL=postgresql://... python -m uvicorn bench.fastapi_common:app

A FastAPI route, `stripe.Webhook.construct_event` (signature check, then the event
parsed into the SDK's objects), and the classic multi-statement transaction on an
asyncpg pool: record the event, the guarded update to paid, lock the products in id
order, take the stock, commit. The same work as the service and the one statement,
one round trip per statement.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import stripe
from fastapi import FastAPI, HTTPException, Request

TOLERANCE_SECONDS = 300
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "32"))

RECORD_EVENT = """
INSERT INTO webhook_events (provider, event_id, endpoint, type, account, livemode, outcome)
VALUES ('stripe', $1, $2, $3, $4, $5, 'paid')
ON CONFLICT (provider, event_id) DO NOTHING
RETURNING event_id
"""
MARK_PAID = """
UPDATE orders
SET status = 'paid', amount_paid = $1, provider_payment_id = $2, confirmed_via = 'webhook',
    paid_at = now(), updated_at = now(), cancel_reason = NULL
WHERE provider_session_id = $3 AND provider_account IS NOT DISTINCT FROM $4
  AND status IN ('pending', 'processing', 'failed', 'expired')
  AND currency = $5 AND (amount_total = $1 OR (allow_promotion_codes AND amount_total >= $1))
RETURNING id
"""
LOCK_STOCK = """
SELECT p.id, p.stock, i.quantity
FROM products p JOIN order_items i ON i.product_id = p.id
WHERE i.order_id = $1 AND p.stock IS NOT NULL
ORDER BY p.id
FOR UPDATE OF p
"""
TAKE_STOCK = "UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with asyncpg.create_pool(
        os.environ["BENCH_DATABASE_URL"], min_size=POOL_SIZE, max_size=POOL_SIZE
    ) as pool:
        app.state.pool = pool
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/webhooks/stripe")
async def platform(request: Request) -> dict[str, Any]:
    return await _receive(request, "platform", os.environ["STRIPE_WEBHOOK_SECRET"])


@app.post("/webhooks/stripe/connect")
async def connect(request: Request) -> dict[str, Any]:
    return await _receive(request, "connect", os.environ["STRIPE_CONNECT_WEBHOOK_SECRET"])


async def _receive(request: Request, endpoint: str, secret: str) -> dict[str, Any]:
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("stripe-signature", ""), secret, TOLERANCE_SECONDS
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise HTTPException(400, type(exc).__name__) from exc
    session = event.data.object
    if event.type != "checkout.session.completed" or session.payment_status != "paid":
        return {"received": True, "outcome": "ignored"}
    account = getattr(event, "account", None)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        if (
            await conn.fetchval(
                RECORD_EVENT, event.id, endpoint, event.type, account, event.livemode
            )
            is None
        ):
            return {"received": True, "outcome": "duplicate"}
        order_id = await conn.fetchval(
            MARK_PAID,
            session.amount_total,
            session.payment_intent,
            session.id,
            account,
            session.currency,
        )
        if order_id is None:
            return {"received": True, "outcome": "already_processed"}
        rows = await conn.fetch(LOCK_STOCK, order_id)
        if any(row["stock"] < row["quantity"] for row in rows):
            # The refund path is the service's; the bench gives every product enough stock.
            raise HTTPException(500, "out_of_stock")
        for row in rows:
            await conn.execute(TAKE_STOCK, row["id"], row["quantity"])
    return {"received": True, "outcome": "paid"}
