"""Alembic driven from code: `payments migrate` and the tests run the same migrations.

The migrations ship inside the package (`payments/migrations`), and the Alembic
configuration is built here, so an installed wheel needs no `alembic.ini` and no
source tree. The top-level `alembic.ini` is only for running `alembic` by hand
from a checkout (e.g. `alembic revision --autogenerate`).
"""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config

# A package resource: Alembic resolves it with importlib.resources, wherever the
# package is installed.
SCRIPT_LOCATION = "payments:migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database; runs in a thread because Alembic's API is synchronous."""
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), revision)
