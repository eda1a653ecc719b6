"""The shop's endpoints as real HTTP servers, and helpers to look at what was sent."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from payments.merchant_events import signing
from payments.merchant_events.sender import EventSender
from tests.merchant_events.receiver import Receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """The receivers listen on loopback, over http."""
    return {"merchant_webhooks_allow_private": True}


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[[], Awaitable[Receiver]]]:
    """Start a new receiver: `await receivers()`; all are closed after the test."""
    started: list[Receiver] = []

    async def start() -> Receiver:
        receiver = await Receiver().start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.close()


@pytest.fixture
async def senders(app: Any) -> AsyncIterator[Callable[..., EventSender]]:
    """Another sender on the app's database (another replica), with the app's settings
    unless told otherwise: `senders(per_endpoint=1)`."""
    made: list[EventSender] = []

    def make(database: Any = None, **overrides: Any) -> EventSender:
        settings = app.state.settings
        params: dict[str, Any] = {
            "allow_private": settings.merchant_webhooks_allow_private,
            "timeout_seconds": settings.merchant_webhooks_timeout_seconds,
            "concurrency": settings.merchant_webhooks_concurrency,
            "per_endpoint": settings.merchant_webhooks_per_endpoint,
        }
        sender = EventSender(database or app.state.database, **{**params, **overrides})
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.aclose()


@dataclass(frozen=True)
class Endpoint:
    id: uuid.UUID
    url: str
    secret: str


async def add_endpoint(
    db: asyncpg.Connection,
    url: str,
    *,
    events: tuple[str, ...] = ("*",),
    previous_secret: str | None = None,
    previous_secret_expires_at: datetime | None = None,
) -> Endpoint:
    """An endpoint as the admin API would save it, written straight to its table."""
    endpoint = Endpoint(uuid.uuid4(), url, signing.new_secret())
    await db.execute(
        "INSERT INTO webhook_endpoints (id, url, events, secret, previous_secret,"
        " previous_secret_expires_at) VALUES ($1, $2, $3::jsonb, $4, $5, $6)",
        endpoint.id,
        url,
        json.dumps(list(events)),
        endpoint.secret,
        previous_secret,
        previous_secret_expires_at,
    )
    return endpoint


async def deliveries_to(db: asyncpg.Connection, endpoint: Endpoint) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT * FROM event_deliveries WHERE endpoint_id = $1 ORDER BY created_at, id",
            endpoint.id,
        )
    )


async def the_delivery_to(db: asyncpg.Connection, endpoint: Endpoint) -> asyncpg.Record:
    (delivery,) = await deliveries_to(db, endpoint)
    return delivery


async def attempts_of(db: asyncpg.Connection, delivery_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id", delivery_id
        )
    )


async def make_due(db: asyncpg.Connection) -> None:
    """The retries waiting for their time are due now (instead of sleeping until then)."""
    await db.execute(
        "UPDATE event_deliveries SET next_attempt_at = now() WHERE status IN ('pending', 'failed')"
    )


def now() -> datetime:
    return datetime.now(UTC)
