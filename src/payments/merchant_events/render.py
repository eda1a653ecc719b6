"""The `data` of an event: the admin JSON of its object as it is after the change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from payments.disputes.schemas import DisputeOut
from payments.models import Dispute, Order, OrderItem, Refund
from payments.orders.schemas import AdminOrderDetail
from payments.refunds.schemas import RefundOut


async def order_data(session: AsyncSession, order_id: uuid.UUID) -> str:
    """The order as `GET /admin/orders/{id}` shows it, read in the caller's transaction."""
    order = (
        await session.execute(
            select(Order)
            .where(Order.id == order_id)
            .options(
                selectinload(Order.items), selectinload(Order.refunds), selectinload(Order.disputes)
            )
            # Guarded UPDATEs do not refresh objects this session loaded before them.
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return AdminOrderDetail.of(order).model_dump_json()


async def refund_data(session: AsyncSession, refund_id: uuid.UUID) -> str:
    refund = await session.get(Refund, refund_id, populate_existing=True)
    return RefundOut.model_validate(refund).model_dump_json()


async def dispute_data(session: AsyncSession, dispute_id: uuid.UUID) -> str:
    dispute = await session.get(Dispute, dispute_id, populate_existing=True)
    return DisputeOut.model_validate(dispute).model_dump_json()


def order_data_from_snapshot(snapshot: dict[str, Any]) -> str:
    """The same JSON from the rows the one-statement payment path stored (`to_jsonb` of the
    order after its UPDATE, and of its items, refunds and disputes), without reading the
    order again: what it was right after the change, whatever happened to it since."""
    order = Order(**snapshot["order"])
    order.items = [OrderItem(**item) for item in snapshot["items"]]
    order.refunds = [Refund(**refund) for refund in snapshot["refunds"]]
    order.disputes = [Dispute(**dispute) for dispute in snapshot["disputes"]]
    return AdminOrderDetail.of(order).model_dump_json()
