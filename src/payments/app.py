"""The ASGI application: `payments.app:app`."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog
from fastapi import FastAPI

from payments import health
from payments.bodies import BodyLimitMiddleware
from payments.catalog.public import router as public_catalog_router
from payments.catalog.routes import router as catalog_router
from payments.checkout.routes import router as checkout_router
from payments.config import SANDBOX_ADMIN_KEY, Settings, get_settings
from payments.db import Database, create_engine
from payments.demo_shop.registration import start_demo_shop
from payments.demo_shop.routes import router as demo_shop_router
from payments.disputes.routes import router as disputes_router
from payments.docs import router as docs_router
from payments.errors import DatabaseUnavailable, install_error_handlers
from payments.head import HeadAsGetMiddleware
from payments.logging import RequestIdMiddleware, configure_logging
from payments.merchant_events.delivery_routes import router as webhook_deliveries_router
from payments.merchant_events.routes import router as webhook_endpoints_router
from payments.merchant_events.sender import EventSender
from payments.migrate import check_schema, script_directory, upgrade
from payments.orders.routes import admin as orders_admin_router
from payments.orders.routes import public as orders_router
from payments.outbox import OutboxWorker
from payments.pages import router as pages_router
from payments.providers.stripe import HANDLED_EVENTS, StripeProvider
from payments.reconcile.loop import ReconcileLoop
from payments.refunds.routes import router as refunds_router
from payments.sandbox_mode import (
    close_orphaned_checkouts,
    holding_sandbox_database,
    running_sandbox,
)
from payments.seed import seed_demo_catalog
from payments.webhooks.routes import WebhookEndpoints
from payments.webhooks.routes import router as webhooks_router

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings are read at start-up unless given (tests give them)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or get_settings()
        configure_logging(config.log_format, config.log_level)
        # Each resource is released in reverse order, also when start-up fails half-way.
        async with contextlib.AsyncExitStack() as resources:
            await _start(app, config, resources)
            yield

    app = FastAPI(
        title="payments",
        version="0.1.0",
        description="Stripe Checkout and Connect with exactly-once confirmation on Postgres.",
        lifespan=lifespan,
        # Served from the package by `payments.docs`, not from a CDN.
        docs_url=None,
        redoc_url=None,
        # A slash redirect builds its Location from the Host header a client sends;
        # `/products/` is a 404 instead.
        redirect_slashes=False,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # The last added runs first: HEAD becomes GET before anything else sees it, and the
    # request id wraps everything, even a 500. The webhooks are served innermost, inside
    # the body limit, before the framework's own layers (see webhooks.routes).
    app.add_middleware(WebhookEndpoints)
    app.add_middleware(BodyLimitMiddleware)
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
    for router in (
        docs_router,
        pages_router,
        public_catalog_router,
        checkout_router,
        webhooks_router,
        orders_router,
        catalog_router,
        orders_admin_router,
        refunds_router,
        disputes_router,
        webhook_endpoints_router,
        webhook_deliveries_router,
        demo_shop_router,
        health.router,
    ):
        app.include_router(router)
    return app


async def _start(app: FastAPI, config: Settings, resources: contextlib.AsyncExitStack) -> None:
    """Start everything the routes need and put it on `app.state`."""
    api_base = str(config.stripe_api_base) if config.stripe_api_base else None
    if config.sandbox:
        # First: a second sandbox on the same SQLite file would close this one's orders.
        resources.enter_context(holding_sandbox_database(config))
        sandbox = resources.enter_context(running_sandbox(config))
        api_base = sandbox.api_url
        app.state.sandbox = sandbox
        _announce_sandbox(config, sandbox.api_url)
    database = Database(create_engine(config))
    resources.push_async_callback(database.dispose)
    await _schema_ready(config, database)
    if config.sandbox:
        closed = await close_orphaned_checkouts(database)
        if closed.expired or closed.failed:
            log.warning("sandbox.orphans_closed", expired=closed.expired, failed=closed.failed)
    if config.seed_on_start:
        await seed_demo_catalog(database)
    if config.sandbox:
        # The demo shop registers its endpoint (with the demo catalog only); /sandbox/events.
        app.state.demo_shop = await start_demo_shop(config, database)
    provider = StripeProvider(
        config.stripe_secret_key.get_secret_value(),
        api_base=api_base,
        timeout=config.stripe_timeout_seconds,
        max_network_retries=config.stripe_max_network_retries,
        webhook_tolerance=config.webhook_tolerance_seconds,
    )
    resources.push_async_callback(provider.aclose)
    outbox = OutboxWorker(
        database,
        provider,
        poll_seconds=config.outbox_poll_seconds,
        # Long enough for one provider call with all its retries.
        lease=timedelta(
            seconds=config.stripe_timeout_seconds * (config.stripe_max_network_retries + 1) + 60
        ),
    )
    database.on_outbox_write = outbox.wake
    event_sender = EventSender(
        database,
        allow_private=config.merchant_webhooks_allow_private,
        timeout_seconds=config.merchant_webhooks_timeout_seconds,
        concurrency=config.merchant_webhooks_concurrency,
        per_endpoint=config.merchant_webhooks_per_endpoint,
        poll_seconds=config.merchant_webhooks_poll_seconds,
    )
    resources.push_async_callback(event_sender.aclose)
    database.on_events_write = event_sender.wake
    app.state.settings = config
    app.state.database = database
    app.state.provider = provider
    app.state.outbox = outbox
    app.state.event_sender = event_sender
    if config.outbox_enabled:
        resources.push_async_callback(_stop, asyncio.create_task(outbox.run()))
    if config.merchant_webhooks_enabled:
        # Stopped before `aclose` (the stack unwinds in reverse): no claim after the close.
        resources.push_async_callback(_stop, asyncio.create_task(event_sender.run()))
    if config.reconcile_interval_seconds > 0:
        reconciler = ReconcileLoop(
            database,
            provider,
            types=sorted(HANDLED_EVENTS),
            interval=config.reconcile_interval_seconds,
            livemode=config.livemode,
        )
        app.state.reconciler = reconciler
        resources.push_async_callback(_stop, asyncio.create_task(reconciler.run()))
    log.info(
        "service.started",
        sandbox=config.sandbox,
        livemode=config.livemode,
        database="sqlite" if config.uses_sqlite else "postgresql",
        outbox=config.outbox_enabled,
        merchant_webhooks=config.merchant_webhooks_enabled,
        reconcile_interval_seconds=config.reconcile_interval_seconds,
    )


async def _schema_ready(config: Settings, database: Database) -> None:
    """Migrate (AUTO_MIGRATE) or check that the database is at this release's schema.

    Behind or never migrated: start-up stops (SchemaBehind names `payments migrate`),
    instead of a service that is ready and answers 500. Ahead (a newer release
    migrated it, this is a rollback): a warning, because refusing would turn every
    rollback, and every old replica restarting during a rolling deploy, into an outage.
    Unreachable: the service starts and answers 503 until it can reach it.
    """
    if config.migrate_on_start:
        migrated = await upgrade(
            config.database_url, connect_timeout=config.db_connect_timeout_seconds
        )
        if migrated.ahead:
            _warn_ahead(migrated.before)
        elif migrated.before != migrated.after:
            log.info("database.migrated", before=migrated.before, after=migrated.after)
        return
    try:
        schema = await check_schema(database)
    except DatabaseUnavailable:
        log.warning("database.schema_unchecked", reason="the database is unavailable")
        return
    if schema.ahead:
        _warn_ahead(schema.current)


def _warn_ahead(current: tuple[str, ...]) -> None:
    log.warning(
        "database.schema_ahead",
        message="a newer release migrated the database; running on it (a rollback?)",
        current=current,
        newest_known=script_directory().get_heads(),
    )


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _announce_sandbox(config: Settings, api_url: str) -> None:
    """Say it loudly: nobody should mistake the sandbox for real payments.

    The storefront's address also goes on a plain line of its own, for the person who
    just typed `make run`; on stderr, so stdout stays pure log lines (JSON when piped).
    """
    print(f"Storefront: {str(config.public_url).rstrip('/')}", file=sys.stderr, flush=True)
    log.warning(
        "sandbox.mode",
        message="SANDBOX MODE: no real money moves; Stripe is the built-in test server",
        stripe_api=api_url,
        storefront=str(config.public_url),
        test_card="4242 4242 4242 4242",
        admin_api_key=SANDBOX_ADMIN_KEY
        if config.admin_api_key.get_secret_value() == SANDBOX_ADMIN_KEY
        else "(as configured)",
    )


app = create_app()
