"""The ASGI application: `payments.app:app`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from payments import health
from payments.catalog.routes import router as catalog_router
from payments.checkout.routes import router as checkout_router
from payments.config import Settings, get_settings
from payments.db import Database, create_engine
from payments.errors import install_error_handlers
from payments.logging import RequestIdMiddleware, configure_logging
from payments.orders.routes import admin as orders_admin_router
from payments.orders.routes import public as orders_router
from payments.outbox import OutboxWorker
from payments.providers.stripe import StripeProvider
from payments.webhooks.routes import router as webhooks_router

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings are read at start-up unless given (tests give them)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or get_settings()
        configure_logging(config.log_format, config.log_level)
        database = Database(create_engine(config.database_url, pool_size=config.db_pool_size))
        provider = StripeProvider(
            config.stripe_secret_key.get_secret_value(),
            api_base=str(config.stripe_api_base) if config.stripe_api_base else None,
            timeout=config.stripe_timeout_seconds,
            max_network_retries=config.stripe_max_network_retries,
            webhook_tolerance=config.webhook_tolerance_seconds,
        )
        outbox = OutboxWorker(database, provider, poll_seconds=config.outbox_poll_seconds)
        database.on_outbox_write = outbox.wake
        app.state.settings = config
        app.state.database = database
        app.state.provider = provider
        app.state.outbox = outbox
        worker = asyncio.create_task(outbox.run()) if config.outbox_enabled else None
        log.info("service.started", livemode=config.livemode, outbox=config.outbox_enabled)
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await provider.aclose()
            await database.dispose()

    app = FastAPI(
        title="payments",
        version="0.1.0",
        description="Stripe Checkout and Connect with exactly-once confirmation on Postgres.",
        lifespan=lifespan,
    )
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    for router in (
        checkout_router,
        webhooks_router,
        orders_router,
        catalog_router,
        orders_admin_router,
        health.router,
    ):
        app.include_router(router)
    return app


app = create_app()
