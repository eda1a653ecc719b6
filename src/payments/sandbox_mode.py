"""Sandbox mode: the service starts its own Stripe-compatible server and pays itself.

With no Stripe key a newcomer can run the whole purchase offline: the SDK talks
over HTTP to the built-in server, whose hosted page takes test cards and which
delivers signed webhooks back to this service, with Stripe's bad days on demand
(SANDBOX_CHAOS).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import make_url

from payments.config import Settings
from payments.db import Database
from payments.merchant_events import record
from payments.models import Order, OrderStatus
from payments.sandbox.chaos import Chaos
from payments.sandbox.stripe_server import FakeStripe, serve_in_thread

SANDBOX_RESTARTED = "sandbox_restarted"


@dataclass(frozen=True)
class RunningSandbox:
    stripe: FakeStripe
    api_url: str  # where the SDK (and the buyer's browser) reach it


@contextmanager
def running_sandbox(settings: Settings) -> Iterator[RunningSandbox]:
    """Start the built-in Stripe server in a thread for as long as the service runs."""
    stripe = FakeStripe(
        webhook_secret=settings.webhook_secrets[0],
        connect_webhook_secret=settings.connect_webhook_secrets[0],
        async_settle_seconds=settings.sandbox_async_settle_seconds,
        public_url=str(settings.sandbox_public_url).rstrip("/")
        if settings.sandbox_public_url
        else None,
    )
    target = str(settings.sandbox_webhook_url or settings.public_url).rstrip("/")
    stripe.configure_delivery(f"{target}/webhooks/stripe", f"{target}/webhooks/stripe/connect")
    stripe.set_chaos(Chaos.parse(settings.sandbox_chaos))
    try:
        with serve_in_thread(
            stripe.app, host=settings.sandbox_host, port=settings.sandbox_port
        ) as api_url:
            yield RunningSandbox(stripe=stripe, api_url=api_url)
    finally:
        stripe.close()  # stops its delivery thread


class SandboxDatabaseInUse(RuntimeError):
    """Another live sandbox holds this SQLite file; starting would close its open orders."""

    def __init__(self, database: str) -> None:
        super().__init__(
            f"another payments sandbox is running on {database}; give this one its own "
            "database, e.g. DATABASE_URL=sqlite+aiosqlite:///./second.db"
        )


@contextmanager
def holding_sandbox_database(settings: Settings) -> Iterator[None]:
    """Hold a lock on the sandbox's SQLite file for as long as the block runs.

    A sandbox closes, on start, the open orders of sessions it does not know (see
    `close_orphaned_checkouts`): a second sandbox on the same file would close the
    first one's. The lock is an exclusive `flock` on `<file>.lock` beside it, which
    the system releases when the process ends, however it ends; raises
    SandboxDatabaseInUse when another process holds it. Postgres (SANDBOX=true) is
    not guarded: each instance there is given its own database by whoever runs it.
    """
    database = _sqlite_file(settings.database_url)
    if database is None or sys.platform == "win32":  # no flock there
        yield
        return
    import fcntl

    try:
        lock = os.open(database.with_name(f"{database.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield  # e.g. no such folder: SQLite itself says so when it opens the file
        return
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SandboxDatabaseInUse(str(database.resolve())) from None
        yield
    finally:
        os.close(lock)  # releases the lock


def _sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


@dataclass(frozen=True)
class ClosedOrphans:
    expired: int  # pending: their sessions can never be paid
    failed: int  # processing: their bank debits will never settle


async def close_orphaned_checkouts(database: Database) -> ClosedOrphans:
    """The sandbox keeps its sessions and payments in memory: after a restart, open
    orders point at sessions that no longer exist. A pending one can never be paid,
    so it expires; a processing one's bank debit will never settle, so it fails.
    Both with `cancel_reason` sandbox_restarted; both moves are in `orders/states.py`,
    and the shop is told of each (`order.expired`, `order.failed`)."""
    closed: dict[OrderStatus, list[uuid.UUID]] = {}
    async with database.transaction() as session:
        for before, after in _CLOSE_ORPHANS:
            rows = await session.execute(
                update(Order)
                .where(Order.status == before, Order.provider_session_id.is_not(None))
                .values(status=after, cancel_reason=SANDBOX_RESTARTED)
                .returning(Order.id)
                .execution_options(synchronize_session=False)
            )
            closed[after] = list(rows.scalars())
            for order_id in closed[after]:
                record.order_changed(session, order_id, after)
    return ClosedOrphans(
        expired=len(closed[OrderStatus.EXPIRED]), failed=len(closed[OrderStatus.FAILED])
    )


_CLOSE_ORPHANS = (
    (OrderStatus.PENDING, OrderStatus.EXPIRED),
    (OrderStatus.PROCESSING, OrderStatus.FAILED),
)
