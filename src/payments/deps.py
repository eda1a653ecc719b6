"""Dependencies built once in the app's lifespan and handed to routes.

They are `async def` so FastAPI calls them on the event loop: a plain `def` would cost a
thread-pool hop each, on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from payments.config import Settings
from payments.db import Database
from payments.demo_shop.registration import DemoShop
from payments.errors import NotFound, shown_path
from payments.providers.base import PaymentProvider


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_provider(request: Request) -> PaymentProvider:
    provider: PaymentProvider = request.app.state.provider
    return provider


async def get_demo_shop(request: Request) -> DemoShop:
    """The sandbox's demo shop. Outside sandbox mode there is none, and its routes answer
    as if they did not exist."""
    shop: DemoShop | None = getattr(request.app.state, "demo_shop", None)
    if shop is None:
        raise NotFound(f"no such route: {request.method} {shown_path(request.url.path)}")
    return shop


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ProviderDep = Annotated[PaymentProvider, Depends(get_provider)]
DemoShopDep = Annotated[DemoShop, Depends(get_demo_shop)]
