"""Sandbox mode: the service starts its own Stripe-compatible server and pays itself.

With no Stripe key a newcomer can run the whole purchase offline: the SDK talks
over HTTP to the built-in server, whose hosted page takes test cards and which
delivers signed webhooks back to this service, with Stripe's bad days on demand
(SANDBOX_CHAOS).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import update

from payments.config import Settings
from payments.db import Database
from payments.models import Order, OrderStatus
from payments.sandbox.chaos import Chaos
from payments.sandbox.stripe_server import FakeStripe, serve_in_thread


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


async def expire_orphaned_checkouts(database: Database) -> int:
    """The sandbox keeps its sessions in memory: after a restart, open orders point at
    sessions that no longer exist and can never be paid, so close them as expired."""
    async with database.transaction() as session:
        result = await session.execute(
            update(Order)
            .where(Order.status == OrderStatus.PENDING, Order.provider_session_id.is_not(None))
            .values(status=OrderStatus.EXPIRED, cancel_reason="sandbox_restarted")
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
