"""Settings read from the environment and `.env`, validated once at start-up.

With nothing configured the service runs as an offline sandbox: an embedded
SQLite file and the built-in Stripe-compatible server. With a Stripe key it
talks to Stripe, and then every secret it needs must be set. A missing or
malformed setting stops start-up with a message that names it.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

STRIPE_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./payments.db"
SANDBOX_STRIPE_KEY = "sk_test_sandbox"
# Sandbox only: a published key is fine where no real money can move.
SANDBOX_ADMIN_KEY = "sandbox-admin-key"

_SECRETS_NEEDED_WITH_A_KEY = (
    "stripe_webhook_secret",
    "stripe_connect_webhook_secret",
    "admin_api_key",
)


class SettingsError(RuntimeError):
    """Raised at start-up when the configuration is unusable; the message names the setting."""


class DatabaseSettings(BaseSettings):
    """What `payments migrate` needs: the database alone, no Stripe secrets."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(
        DEFAULT_DATABASE_URL, description="postgresql+asyncpg://... or sqlite+aiosqlite:///file"
    )
    # A database that is down or never answers must give callers a fast 503 (Stripe
    # retries), never a request hanging for a minute.
    db_connect_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must start with postgresql+asyncpg:// (or sqlite+aiosqlite://)")
        return value


class Settings(DatabaseSettings):
    auto_migrate: bool | None = None  # default: on for SQLite, off for Postgres
    # Empty means "not set" (validators let it through): sandbox mode fills these in,
    # Stripe mode requires them (checked across settings in `_consistent`).
    stripe_secret_key: SecretStr = SecretStr("")
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_connect_webhook_secret: SecretStr = SecretStr("")
    stripe_api_base: AnyHttpUrl | None = None
    stripe_timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20.0
    stripe_max_network_retries: Annotated[int, Field(ge=0, le=10)] = 2
    public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    checkout_success_url: str | None = None
    checkout_cancel_url: str | None = None
    admin_api_key: SecretStr = SecretStr("")
    max_body_bytes: Annotated[int, Field(gt=0)] = 64 * 1024  # every JSON endpoint but webhooks
    webhook_max_body_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024
    webhook_tolerance_seconds: Annotated[int, Field(gt=0)] = 300
    outbox_poll_seconds: Annotated[float, Field(gt=0)] = 5.0
    outbox_enabled: bool = True
    # A reconciliation pass inside the service every so often (payments.reconcile.loop);
    # 0 turns it off.
    reconcile_interval_seconds: Annotated[float, Field(ge=0)] = 600.0
    # Signed events to the shop's endpoints (payments.merchant_events). Endpoints must be
    # https to public addresses unless private ones (and http to them) are allowed.
    merchant_webhooks_enabled: bool = True  # this process sends them (off: another does)
    merchant_webhooks_allow_private: bool = False
    merchant_webhooks_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    merchant_webhooks_concurrency: Annotated[int, Field(ge=1, le=256)] = 16  # in all
    merchant_webhooks_per_endpoint: Annotated[int, Field(ge=1, le=64)] = 4  # to one endpoint
    merchant_webhooks_poll_seconds: Annotated[float, Field(gt=0)] = 5.0
    db_pool_size: Annotated[int, Field(ge=1)] = 20
    db_command_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    db_pool_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0
    log_format: Literal["json", "console"] | None = None  # default: console on a terminal
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    docs_enabled: bool = True  # /docs and /redoc (served offline); /openapi.json stays

    # Sandbox mode: on when neither a Stripe key nor a database is set, or SANDBOX=true.
    sandbox: bool = False
    sandbox_host: str = "127.0.0.1"
    sandbox_port: Annotated[int, Field(ge=0, le=65535)] = 12111  # 0: any free port
    sandbox_public_url: AnyHttpUrl | None = None  # how browsers reach the sandbox's pages
    sandbox_webhook_url: AnyHttpUrl | None = None  # where it delivers events; default PUBLIC_URL
    sandbox_chaos: str = ""  # e.g. "delay=5,duplicate,reorder,never,fail_first=2"
    sandbox_async_settle_seconds: Annotated[float, Field(ge=0)] = 2.0
    seed_demo_catalog: bool | None = None  # default: on in sandbox mode on SQLite

    @model_validator(mode="before")
    @classmethod
    def _sandbox_defaults(cls, data: Any) -> Any:
        """Decide the mode first, so the sandbox can fill in what a newcomer never set."""
        if not isinstance(data, dict):
            return data
        key = _plain(data.get("stripe_secret_key"))
        try:
            sandbox = TypeAdapter(bool | None).validate_python(data.get("sandbox"))
        except ValidationError:
            raise ValueError("SANDBOX must be true or false") from None
        if sandbox is None:
            # Only a bare machine falls back to the sandbox; a service pointed at its own
            # database but missing its key must fail, not quietly sell in sandbox mode.
            sandbox = not key and _plain(data.get("database_url") or "sqlite").startswith("sqlite")
        data = {**data, "sandbox": sandbox}
        if sandbox:
            defaults = {
                "stripe_secret_key": SANDBOX_STRIPE_KEY,
                "stripe_webhook_secret": f"whsec_{secrets.token_hex(24)}",
                "stripe_connect_webhook_secret": f"whsec_{secrets.token_hex(24)}",
                "admin_api_key": SANDBOX_ADMIN_KEY,
                # The demo shop's receiver is the sandbox itself, on this machine.
                "merchant_webhooks_allow_private": "true",
            }
            data.update({k: v for k, v in defaults.items() if not _plain(data.get(k))})
        return data

    @field_validator("stripe_secret_key")
    @classmethod
    def _stripe_key(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and not value.get_secret_value().startswith(
            STRIPE_KEY_PREFIXES
        ):
            raise ValueError("must be a Stripe secret or restricted key (sk_... or rk_...)")
        return value

    @field_validator("stripe_webhook_secret", "stripe_connect_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr) -> SecretStr:
        parts = value.get_secret_value().split(",")
        if value.get_secret_value() and not all(p.strip().startswith("whsec_") for p in parts):
            raise ValueError(
                "must be Stripe webhook signing secrets (whsec_...), comma-separated while rotating"
            )
        return value

    @field_validator("checkout_success_url")
    @classmethod
    def _success_url(cls, value: str | None) -> str | None:
        if value is not None and "{CHECKOUT_SESSION_ID}" not in value:
            raise ValueError("must contain {CHECKOUT_SESSION_ID} so the page can verify the order")
        return value

    @field_validator("admin_api_key")
    @classmethod
    def _admin_key(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("sandbox_chaos")
    @classmethod
    def _chaos(cls, value: str) -> str:
        from payments.sandbox.chaos import Chaos

        Chaos.parse(value)  # raises ValueError naming the unknown knob
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.sandbox and self.livemode:
            raise ValueError(
                "STRIPE_SECRET_KEY: sandbox mode refuses a live key (sk_live_/rk_live_)"
            )
        needed = () if self.sandbox else ("stripe_secret_key", *_SECRETS_NEEDED_WITH_A_KEY)
        missing = [name.upper() for name in needed if not _plain(getattr(self, name))]
        if missing:
            raise ValueError(
                ", ".join(f"{name} is required" for name in missing)
                + " outside sandbox mode (SANDBOX=true runs the offline sandbox)"
            )
        if self.livemode and self.uses_sqlite:
            raise ValueError("DATABASE_URL: a live Stripe key needs PostgreSQL, not SQLite")
        return self

    @property
    def livemode(self) -> bool:
        """Whether the Stripe key is a live one; events of the other mode are ignored."""
        return self.stripe_secret_key.get_secret_value().startswith(LIVE_KEY_PREFIXES)

    @property
    def webhook_secrets(self) -> list[str]:
        """Secrets of the platform endpoint; several while one is being rotated out."""
        return _split(self.stripe_webhook_secret)

    @property
    def connect_webhook_secrets(self) -> list[str]:
        return _split(self.stripe_connect_webhook_secret)

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrate_on_start(self) -> bool:
        return self.uses_sqlite if self.auto_migrate is None else self.auto_migrate

    @property
    def seed_on_start(self) -> bool:
        """By default only the zero-config sandbox gets the demo catalog, never Postgres."""
        if self.seed_demo_catalog is not None:
            return self.seed_demo_catalog
        return self.sandbox and self.uses_sqlite

    @property
    def success_url(self) -> str:
        base = str(self.public_url).rstrip("/")
        return self.checkout_success_url or (
            f"{base}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"
        )

    @property
    def cancel_url(self) -> str:
        return self.checkout_cancel_url or f"{str(self.public_url).rstrip('/')}/checkout/cancel"


def _split(secret: SecretStr) -> list[str]:
    return [part.strip() for part in secret.get_secret_value().split(",") if part.strip()]


def _plain(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value if isinstance(value, str) else ""


class _GivenSettings(Settings):
    """Settings from the given values alone: no environment, no `.env`."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


_S = TypeVar("_S", bound=BaseSettings)


def load_settings(*, isolated: bool = False, **overrides: object) -> Settings:
    """Build Settings, turning pydantic's error into one that names each bad setting.

    `isolated` ignores the environment and `.env`, for runs that must not be
    steered by the machine they run on (`payments demo`).
    """
    return _load(_GivenSettings if isolated else Settings, **overrides)


def load_database_settings() -> DatabaseSettings:
    """The database settings alone (`payments migrate`), named like `load_settings` does."""
    return _load(DatabaseSettings)


def _load(cls: type[_S], **overrides: object) -> _S:
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if not error["loc"]:  # a check across settings names them itself
                problems.append(message)
                continue
            name = str(error["loc"][0]).upper()
            problems.append(
                f"{name} is required" if error["type"] == "missing" else f"{name} {message}"
            )
        raise SettingsError("Invalid configuration: " + "; ".join(problems)) from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
