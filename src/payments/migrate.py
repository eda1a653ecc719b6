"""Alembic driven from code: `payments migrate` and the tests run the same migrations."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_ini() -> Path:
    """`alembic.ini` of the source tree, or the one `PAYMENTS_ALEMBIC_INI` names."""
    configured = os.environ.get("PAYMENTS_ALEMBIC_INI")
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / "alembic.ini"
    if not path.is_file():
        raise FileNotFoundError(
            f"alembic.ini not found at {path}; set PAYMENTS_ALEMBIC_INI to its location"
        )
    return path


def alembic_config(database_url: str) -> Config:
    config = Config(str(alembic_ini()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False  # keep the service's own logging set-up
    return config


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the database; runs in a thread because Alembic's API is synchronous."""
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), revision)
