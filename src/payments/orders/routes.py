"""Reading orders: public status for the buyer, the full record for admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from payments.auth import AdminDep
from payments.deps import DatabaseDep
from payments.errors import (
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    responses,
)
from payments.models import OrderStatus
from payments.orders import repository
from payments.orders.schemas import AdminOrderDetail, OrderList, PublicOrder

public = APIRouter(tags=["orders"])
admin = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])


@public.get(
    "/orders/{order_id}",
    response_model=PublicOrder,
    responses=responses(InvalidRequest, NotFound, ServiceUnavailable),
)
async def get_public_order(order_id: uuid.UUID, database: DatabaseDep) -> PublicOrder:
    """What was bought and what was paid and refunded: the buyer's receipt, by order id."""
    async with database.reading() as session:
        order = await repository.get_order(session, order_id, full=True)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return PublicOrder.of(order)


@admin.get(
    "/orders/{order_id}",
    response_model=AdminOrderDetail,
    responses=responses(Unauthorized, InvalidRequest, NotFound, ServiceUnavailable),
)
async def get_order(order_id: uuid.UUID, database: DatabaseDep) -> AdminOrderDetail:
    """The whole record: items, refunds, disputes, and its money invariants checked."""
    async with database.reading() as session:
        order = await repository.get_order(session, order_id, full=True)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return AdminOrderDetail.of(order)


@admin.get(
    "/orders",
    response_model=OrderList,
    responses=responses(Unauthorized, InvalidRequest, ServiceUnavailable),
)
async def list_orders(
    database: DatabaseDep,
    status: OrderStatus | None = None,
    flagged: Annotated[
        bool | None,
        Query(description="true: only orders flagged for review (`review_reason` set)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> OrderList:
    """The newest orders first, optionally of one status, or flagged for review or not."""
    async with database.reading() as session:
        orders = await repository.list_orders(session, status=status, flagged=flagged, limit=limit)
    return OrderList.model_validate({"data": orders}, from_attributes=True)
