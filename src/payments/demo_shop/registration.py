"""The demo shop's webhook endpoint: registered on the sandbox's first start, found again
on every later one.

The shop is the sandbox itself, so its receiver is on this service, at the address the
sandbox's Stripe already reaches it by (SANDBOX_WEBHOOK_URL, else PUBLIC_URL). One
sandbox runs per database (`sandbox_mode.holding_sandbox_database`), so reading before
creating cannot race another start.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from sqlalchemy import select

from payments.config import Settings
from payments.db import Database
from payments.demo_shop.inbox import Inbox
from payments.errors import InvalidEndpointUrl
from payments.merchant_events.endpoints import create_endpoint, update_endpoint
from payments.models import WebhookEndpoint

log = structlog.get_logger(__name__)

DESCRIPTION = "sandbox demo shop"
RECEIVER_PATH = "/sandbox/shop/webhooks"
NO_DEMO_CATALOG = (
    "The demo shop is not registered, so no events are sent here: it comes with the demo "
    "catalog, which is off (SEED_DEMO_CATALOG)."
)


@dataclass
class DemoShop:
    """The demo shop while the service runs: its endpoint (None when it is not registered,
    with the reason) and what it received."""

    endpoint_id: uuid.UUID | None
    not_registered: str | None = None
    inbox: Inbox = field(default_factory=Inbox)


def receiver_url(config: Settings) -> str:
    base = str(config.sandbox_webhook_url or config.public_url).rstrip("/")
    return f"{base}{RECEIVER_PATH}"


async def start_demo_shop(config: Settings, database: Database) -> DemoShop:
    """The demo shop of a sandbox: registered when the demo catalog is seeded, else not.

    An address the endpoint cannot have (PUBLIC_URL http on
    a public host, say) leaves it unregistered, with the reason logged and on the page:
    the sandbox still starts.
    """
    if not (config.sandbox and config.seed_on_start):
        return DemoShop(None, NO_DEMO_CATALOG)
    url = receiver_url(config)
    try:
        endpoint_id = await ensure_endpoint(
            database, url, allow_private=config.merchant_webhooks_allow_private
        )
    except InvalidEndpointUrl as exc:
        log.warning("sandbox.demo_shop_not_registered", url=url, reason=exc.message)
        return DemoShop(
            None,
            f"The demo shop is not registered, so no events are sent here: its address "
            f"{url} cannot be an endpoint ({exc.message}).",
        )
    return DemoShop(endpoint_id)


async def ensure_endpoint(database: Database, url: str, *, allow_private: bool) -> uuid.UUID:
    """The demo shop's endpoint: created on the first start, kept on the next ones.

    The shop kept the secret it got at registration, so an existing endpoint is kept as
    it is (enabled or not), except for its URL, which follows the service's address.
    """
    async with database.reading() as session:
        existing = (
            await session.execute(
                select(WebhookEndpoint.id, WebhookEndpoint.url)
                .where(
                    WebhookEndpoint.description == DESCRIPTION,
                    WebhookEndpoint.deleted_at.is_(None),
                )
                .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
                .limit(1)
            )
        ).one_or_none()
    if existing is None:
        endpoint, _secret = await create_endpoint(
            database, url=url, events=["*"], description=DESCRIPTION, allow_private=allow_private
        )
        log.info("sandbox.demo_shop_registered", endpoint_id=str(endpoint.id), url=url)
        return endpoint.id
    endpoint_id: uuid.UUID = existing.id
    if existing.url != url:
        await update_endpoint(database, endpoint_id, {"url": url}, allow_private=allow_private)
    return endpoint_id


async def signing_secrets(database: Database, endpoint_id: uuid.UUID) -> list[str]:
    """The secrets the shop holds: the endpoint's, and the one before a rotation until it
    expires. Read per delivery, so a rotation is picked up at once."""
    async with database.reading() as session:
        row = (
            await session.execute(
                select(
                    WebhookEndpoint.secret,
                    WebhookEndpoint.previous_secret,
                    WebhookEndpoint.previous_secret_expires_at,
                ).where(WebhookEndpoint.id == endpoint_id)
            )
        ).one_or_none()
    if row is None:
        return []
    held = [row.secret]
    expires = row.previous_secret_expires_at
    if row.previous_secret and expires is not None and _utc(expires) > datetime.now(UTC):
        held.append(row.previous_secret)
    return held


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
