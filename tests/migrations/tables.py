"""The tables as the old revisions left them, for writing rows the way old code did: only
the columns named here, so an insert works before later columns exist."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

sellers = sa.table(
    "sellers",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("stripe_account_id", sa.String()),
    sa.column("charge_type", sa.String()),
    sa.column("fee_bps", sa.Integer()),
)
products = sa.table(
    "products",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("unit_amount", sa.BigInteger()),
    sa.column("currency", sa.String()),
    sa.column("stock", sa.Integer()),
    sa.column("seller_id", sa.Uuid()),
)
orders = sa.table(
    "orders",
    sa.column("id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("seller_id", sa.Uuid()),
    sa.column("charge_type", sa.String()),
    sa.column("currency", sa.String()),
    sa.column("amount_total", sa.BigInteger()),
    sa.column("application_fee_amount", sa.BigInteger()),
    sa.column("provider_session_id", sa.String()),
    sa.column("idempotency_key", sa.String()),
    sa.column("request_fingerprint", sa.String()),
    sa.column("allow_promotion_codes", sa.Boolean()),
    sa.column("review_reason", sa.String()),
)
order_items = sa.table(
    "order_items",
    sa.column("order_id", sa.Uuid()),
    sa.column("product_id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("quantity", sa.Integer()),
    sa.column("unit_amount", sa.BigInteger()),
)


def seller_row(seller_id: uuid.UUID, fee_bps: int = 1000) -> dict[str, Any]:
    return {
        "id": seller_id,
        "name": "Seller",
        "stripe_account_id": f"acct_{seller_id.hex[:16]}",
        "charge_type": "destination",
        "fee_bps": fee_bps,
    }


def order_row(seller_id: uuid.UUID | None, fee: int | None, session: str | None) -> dict[str, Any]:
    """A pending 25.00 USD order as the old code stored it."""
    return {
        "id": uuid.uuid4(),
        "status": "pending",
        "seller_id": seller_id,
        "charge_type": "destination" if seller_id else None,
        "currency": "usd",
        "amount_total": 2500,
        "application_fee_amount": fee,
        "provider_session_id": session,
        "idempotency_key": None,
        "request_fingerprint": None,
    }


outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("order_id", sa.Uuid()),
    sa.column("payload", sa.JSON()),
    sa.column("idempotency_key", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("done_at", sa.DateTime(timezone=True)),
)
