"""Recording disputes from the provider's events, each once, forward only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import insert_for
from payments.disputes.states import FINAL, NEEDS_RESPONSE, moves_forward, rank
from payments.merchant_events import record
from payments.merchant_events.types import EventType
from payments.models import Dispute, Order, touched
from payments.providers.base import DisputeSignal

log = structlog.get_logger(__name__)


class Applied(StrEnum):
    RECORDED = "dispute_recorded"
    UPDATED = "dispute_updated"
    ALREADY_PROCESSED = "already_processed"
    UNKNOWN_PAYMENT = "unknown_payment"


async def apply(session: AsyncSession, signal: DisputeSignal) -> Applied:
    """Record the dispute the first time it is seen (whichever event comes first, `closed`
    included), then move it only forward. A dispute changes no order status and no stock."""
    if signal.payment_id is None:
        return Applied.UNKNOWN_PAYMENT
    order_id = (
        await session.execute(
            select(Order.id).where(
                Order.provider_payment_id == signal.payment_id,
                Order.provider_account.is_not_distinct_from(signal.account),
            )
        )
    ).scalar_one_or_none()
    if order_id is None:
        return Applied.UNKNOWN_PAYMENT
    values = {
        "amount": signal.amount,
        "currency": signal.currency,
        "reason": signal.reason,
        "status": signal.status,
        "evidence_due_by": datetime.fromtimestamp(signal.evidence_due_by, UTC)
        if signal.evidence_due_by
        else None,
    }
    inserted = await session.execute(
        insert_for(session)(Dispute)
        .values(id=uuid.uuid4(), order_id=order_id, provider_dispute_id=signal.dispute_id, **values)
        .on_conflict_do_nothing(index_elements=["provider_dispute_id"])
        .returning(Dispute.id)
    )
    dispute_id = inserted.scalar_one_or_none()
    if dispute_id is not None:
        record.dispute_changed(session, dispute_id, order_id, EventType.DISPUTE_CREATED)
        if rank(signal.status) >= FINAL:  # seen for the first time when it closed
            record.dispute_changed(session, dispute_id, order_id, EventType.DISPUTE_CLOSED)
        log.warning(
            "dispute.recorded",
            order_id=str(order_id),
            provider_dispute_id=signal.dispute_id,
            status=signal.status,
            amount=signal.amount,
        )
        return Applied.RECORDED
    stored = (
        await session.execute(
            select(Dispute)
            .where(Dispute.provider_dispute_id == signal.dispute_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    if stored.order_id != order_id or not moves_forward(stored.status, signal.status):
        return Applied.ALREADY_PROCESSED
    if all(getattr(stored, name) == value for name, value in values.items()):
        return Applied.ALREADY_PROCESSED
    await session.execute(
        update(Dispute)
        .where(Dispute.id == stored.id)
        .values(updated_at=touched(Dispute.updated_at), **values)
        .execution_options(synchronize_session=False)
    )
    if rank(signal.status) >= FINAL:  # it was not closed: a closed dispute never moves
        record.dispute_changed(session, stored.id, order_id, EventType.DISPUTE_CLOSED)
    log.warning(
        "dispute.updated",
        order_id=str(order_id),
        provider_dispute_id=signal.dispute_id,
        status=signal.status,
    )
    return Applied.UPDATED


async def list_disputes(
    session: AsyncSession, *, status: str | None, limit: int
) -> Sequence[Dispute]:
    """Disputes of one status (`needs_response`: every status waiting for evidence), the
    soonest evidence deadline first; the newest first without a status."""
    stmt = select(Dispute).limit(limit)
    if status == "needs_response":
        stmt = stmt.where(Dispute.status.in_(NEEDS_RESPONSE)).order_by(
            Dispute.evidence_due_by.asc().nulls_last(), Dispute.id
        )
    elif status is not None:
        stmt = stmt.where(Dispute.status == status).order_by(
            Dispute.evidence_due_by.asc().nulls_last(), Dispute.id
        )
    else:
        stmt = stmt.order_by(Dispute.created_at.desc(), Dispute.id.desc())
    return (await session.execute(stmt)).scalars().all()
