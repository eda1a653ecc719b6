"""Admin refunds: give back some or all of what an order's buyer paid."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from payments.auth import AdminDep
from payments.bodies import JsonBodyRoute
from payments.deps import DatabaseDep
from payments.errors import (
    JSON_BODY_ERRORS,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    NotFound,
    OrderDisputed,
    OrderNotRefundable,
    RefundExceedsRemaining,
    ServiceUnavailable,
    Unauthorized,
    responses,
)
from payments.inputs import IdempotencyKey
from payments.models import RefundReason
from payments.refunds import service
from payments.refunds.schemas import RefundIn, RefundOut

router = APIRouter(
    prefix="/admin", tags=["refunds"], dependencies=[AdminDep], route_class=JsonBodyRoute
)


@router.post(
    "/orders/{order_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    responses=responses(
        *JSON_BODY_ERRORS,
        Unauthorized,
        NotFound,
        OrderNotRefundable,
        OrderDisputed,
        RefundExceedsRemaining,
        IdempotencyKeyReused,
        IdempotencyKeyInUse,
        ServiceUnavailable,
    ),
)
async def create_refund(
    order_id: uuid.UUID,
    body: RefundIn,
    database: DatabaseDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RefundOut:
    """Refund `amount` (default: all that remains) of a paid order.

    The refund is written `pending`, checked against what remains refundable in the same
    transaction, and sent to the provider after the commit (retried until it answers):
    its `status` follows the provider's answer and webhooks. A refund the provider
    refuses ends `failed`, and its amount is refundable again.
    """
    asked = service.AdminRefund(
        amount=body.amount,  # None when left out
        reason=RefundReason(body.reason) if body.reason else None,
        restock=body.restock,
    )
    refund, replayed = await service.create_refund(database, order_id, asked, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return RefundOut.model_validate(refund)
