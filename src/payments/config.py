"""Settings read from the environment and `.env`, validated once at start-up.

A payments service must not limp along half-configured: a missing or malformed
setting stops start-up with a message that names it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

STRIPE_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")


class SettingsError(RuntimeError):
    """Raised at start-up when the configuration is unusable; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(description="SQLAlchemy URL, e.g. postgresql+asyncpg://...")
    stripe_secret_key: SecretStr
    stripe_webhook_secret: SecretStr
    stripe_connect_webhook_secret: SecretStr
    stripe_api_base: AnyHttpUrl | None = None
    stripe_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20.0
    stripe_max_network_retries: Annotated[int, Field(ge=0, le=10)] = 2
    public_url: AnyHttpUrl
    checkout_success_url: str | None = None
    checkout_cancel_url: str | None = None
    admin_api_key: SecretStr
    webhook_max_body_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024
    webhook_tolerance_seconds: Annotated[int, Field(gt=0)] = 300
    outbox_poll_seconds: Annotated[float, Field(gt=0)] = 5.0
    outbox_enabled: bool = True
    db_pool_size: Annotated[int, Field(ge=1)] = 10
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must start with postgresql+asyncpg:// (or sqlite+aiosqlite://)")
        return value

    @field_validator("stripe_secret_key")
    @classmethod
    def _stripe_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(STRIPE_KEY_PREFIXES):
            raise ValueError("must be a Stripe secret or restricted key (sk_... or rk_...)")
        return value

    @field_validator("stripe_webhook_secret", "stripe_connect_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("whsec_"):
            raise ValueError("must be a Stripe webhook signing secret (whsec_...)")
        return value

    @field_validator("admin_api_key")
    @classmethod
    def _admin_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @property
    def livemode(self) -> bool:
        """Whether the Stripe key is a live one; events of the other mode are ignored."""
        return self.stripe_secret_key.get_secret_value().startswith(LIVE_KEY_PREFIXES)

    @property
    def success_url(self) -> str:
        base = str(self.public_url).rstrip("/")
        return self.checkout_success_url or (
            f"{base}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"
        )

    @property
    def cancel_url(self) -> str:
        return self.checkout_cancel_url or f"{str(self.public_url).rstrip('/')}/checkout/cancel"


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning pydantic's error into one that names each bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            reason = (
                "is required"
                if error["type"] == "missing"
                else error["msg"].removeprefix("Value error, ")
            )
            problems.append(f"{name} {reason}")
        raise SettingsError("Invalid configuration: " + "; ".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
