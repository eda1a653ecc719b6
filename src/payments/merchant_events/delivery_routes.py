"""Admin routes for deliveries: what was sent where, and a retry for a dead one."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from payments.auth import AdminDep
from payments.deps import DatabaseDep
from payments.errors import (
    DeliveryNotDead,
    EndpointNotLive,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    responses,
)
from payments.merchant_events import deliveries
from payments.merchant_events.delivery_schemas import DeliveryDetail, DeliveryList, DeliveryOut
from payments.models import DeliveryStatus

router = APIRouter(
    prefix="/admin/webhook-deliveries", tags=["webhook endpoints"], dependencies=[AdminDep]
)


@router.get(
    "",
    response_model=DeliveryList,
    responses=responses(Unauthorized, InvalidRequest, ServiceUnavailable),
)
async def list_deliveries(
    database: DatabaseDep,
    endpoint_id: Annotated[uuid.UUID | None, Query(description="Only to this endpoint")] = None,
    status: Annotated[DeliveryStatus | None, Query(description="Only in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryList:
    """Deliveries of the shop's events, newest first."""
    async with database.reading() as session:
        found = await deliveries.list_deliveries(
            session, endpoint_id=endpoint_id, status=status, limit=limit
        )
    return DeliveryList(
        data=[DeliveryOut.of(delivery, event_type) for delivery, event_type in found]
    )


@router.get(
    "/{delivery_id}",
    response_model=DeliveryDetail,
    responses=responses(Unauthorized, InvalidRequest, NotFound, ServiceUnavailable),
)
async def get_delivery(delivery_id: uuid.UUID, database: DatabaseDep) -> DeliveryDetail:
    """One delivery and every attempt of it, newest first."""
    async with database.reading() as session:
        delivery, event_type, attempts = await deliveries.get_delivery(session, delivery_id)
    return DeliveryDetail.with_history(delivery, event_type, attempts)


@router.post(
    "/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryOut,
    responses=responses(
        Unauthorized, InvalidRequest, NotFound, DeliveryNotDead, EndpointNotLive, ServiceUnavailable
    ),
)
async def retry_delivery(delivery_id: uuid.UUID, database: DatabaseDep) -> DeliveryOut:
    """Send a dead delivery again, now, with a fresh schedule (`attempts` back to 0). It is
    the same event, so the receiver sees the same `webhook-id` it may have seen before."""
    delivery, event_type = await deliveries.retry_delivery(database, delivery_id)
    return DeliveryOut.of(delivery, event_type)
