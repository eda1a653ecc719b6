"""Dependencies built once in the app's lifespan and handed to routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from payments.config import Settings
from payments.db import Database
from payments.providers.base import PaymentProvider


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_provider(request: Request) -> PaymentProvider:
    provider: PaymentProvider = request.app.state.provider
    return provider


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ProviderDep = Annotated[PaymentProvider, Depends(get_provider)]
