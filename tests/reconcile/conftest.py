"""Helpers for the reconciliation tests: a pass run as the service runs it, and what the
database holds afterwards."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import update

from payments.models import Order
from payments.providers.stripe import HANDLED_EVENTS
from payments.reconcile.service import Reconciled, reconcile


def window(since: timedelta = timedelta(hours=1)) -> Callable[[str | None], int]:
    """Every account's events of the last `since`, as `payments reconcile --since` lists them."""
    start = int(time.time() - since.total_seconds())
    return lambda _account: start


def no_events(_account: str | None) -> int:
    """A window that starts after every event: as for payments older than the window."""
    return int(time.time()) + 3600


async def run_pass(app: Any, created_gte: Callable[[str | None], int] | None = None) -> Reconciled:
    """One pass with the service's own database and provider."""
    return await reconcile(
        app.state.database,
        app.state.provider,
        created_gte=created_gte or window(),
        types=sorted(HANDLED_EVENTS),
        livemode=False,
    )


async def expire_checkout(app: Any, order_id: str, *, ago: timedelta) -> None:
    """The order's checkout closed `ago` (time passing, written as the service stores it)."""
    async with app.state.database.transaction() as session:
        await session.execute(
            update(Order)
            .where(Order.id == uuid.UUID(order_id))
            .values(checkout_expires_at=datetime.now(UTC) - ago)
        )


async def recorded_events(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(
        await db.fetch("SELECT event_id, endpoint, account, type, outcome FROM webhook_events")
    )
