"""Start-up, configuration, health and the OpenAPI schema."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from payments.config import SettingsError, load_settings
from tests.conftest import Shop, make_settings


@pytest.fixture
def bare_environment(monkeypatch, tmp_path):
    """No payments settings in the environment and no .env file."""
    for name in list(os.environ):
        if name.startswith(("DATABASE", "STRIPE", "ADMIN", "SANDBOX", "PUBLIC_URL", "SEED")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_nothing_configured_means_sandbox_on_sqlite(bare_environment) -> None:
    """Zero configuration: the offline sandbox, an embedded SQLite file, generated secrets."""
    settings = load_settings()

    assert settings.sandbox is True
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.migrate_on_start
    assert settings.seed_on_start
    assert settings.stripe_secret_key.get_secret_value().startswith("sk_test_")
    assert settings.stripe_webhook_secret.get_secret_value().startswith("whsec_")
    assert settings.livemode is False


def test_a_stripe_key_requires_its_secrets_by_name(bare_environment) -> None:
    """With a real key every secret must be set; the message names each missing one."""
    with pytest.raises(SettingsError) as caught:
        load_settings(stripe_secret_key="sk_test_123")

    message = str(caught.value)
    for name in ("STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET", "ADMIN_API_KEY"):
        assert f"{name} is required" in message


@pytest.mark.parametrize(
    "settings",
    [
        {"database_url": "postgresql+asyncpg://db/payments"},
        {"sandbox": "false"},
    ],
)
def test_missing_key_is_an_error_outside_the_bare_sandbox(bare_environment, settings) -> None:
    """A service pointed at its own database, or told SANDBOX=false, needs its Stripe key."""
    with pytest.raises(SettingsError, match="STRIPE_SECRET_KEY is required"):
        load_settings(**settings)


def test_sandbox_on_postgres_must_be_asked_for_and_is_not_seeded(bare_environment) -> None:
    """SANDBOX=true runs the sandbox on Postgres, but never puts the demo catalog there."""
    settings = load_settings(sandbox="true", database_url="postgresql+asyncpg://db/payments")

    assert settings.sandbox is True
    assert settings.seed_on_start is False
    assert settings.migrate_on_start is False


def test_sandbox_refuses_a_live_key(bare_environment) -> None:
    """Sandbox mode must never run with a live key."""
    with pytest.raises(SettingsError, match="STRIPE_SECRET_KEY: sandbox mode refuses a live key"):
        load_settings(sandbox=True, stripe_secret_key="sk_live_123")


def test_live_key_needs_postgres(bare_environment) -> None:
    """Real money is never kept in the embedded SQLite file."""
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings(
            stripe_secret_key="rk_live_123",
            stripe_webhook_secret="whsec_1",
            stripe_connect_webhook_secret="whsec_2",
            admin_api_key="x" * 20,
        )


@pytest.mark.parametrize(
    ("name", "value"), [("sandbox", "maybe"), ("sandbox_chaos", "explode"), ("sandbox_port", "-1")]
)
def test_malformed_sandbox_setting_is_named(bare_environment, name, value) -> None:
    """Sandbox settings are validated like the others."""
    with pytest.raises(SettingsError, match=name.upper()):
        load_settings(**{name: value})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("stripe_secret_key", "pk_test_hunter2hunter2", "STRIPE_SECRET_KEY"),
        ("stripe_webhook_secret", "hunter2hunter2", "STRIPE_WEBHOOK_SECRET"),
        ("stripe_connect_webhook_secret", "hunter2hunter2", "STRIPE_CONNECT_WEBHOOK_SECRET"),
        ("database_url", "mysql://x", "DATABASE_URL"),
        ("public_url", "not a url", "PUBLIC_URL"),
        ("admin_api_key", "hunter2", "ADMIN_API_KEY"),
        ("webhook_max_body_bytes", "0", "WEBHOOK_MAX_BODY_BYTES"),
        ("max_body_bytes", "-1", "MAX_BODY_BYTES"),
        ("docs_enabled", "maybe", "DOCS_ENABLED"),
        ("checkout_success_url", "https://shop.example/thanks", "CHECKOUT_SUCCESS_URL"),
        ("db_connect_timeout_seconds", "0", "DB_CONNECT_TIMEOUT_SECONDS"),
        ("db_command_timeout_seconds", "soon", "DB_COMMAND_TIMEOUT_SECONDS"),
        ("db_pool_timeout_seconds", "-1", "DB_POOL_TIMEOUT_SECONDS"),
    ],
)
def test_malformed_setting_is_named(name, value, message) -> None:
    """A malformed setting is refused with its name, and the secret itself is never echoed."""
    overrides = {"database_url": "postgresql+asyncpg://x/y", name: value}
    with pytest.raises(SettingsError, match=message) as caught:
        make_settings(overrides.pop("database_url"), "http://127.0.0.1:1", **overrides)
    assert "hunter2" not in str(caught.value)


def test_serve_with_a_key_but_no_secrets_exits_naming_them(tmp_path) -> None:
    """`payments serve` with a Stripe key but no secrets prints what to set and exits 2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE", "DATABASE", "ADMIN"))}
    env["STRIPE_SECRET_KEY"] = "sk_test_123"
    result = subprocess.run(
        [sys.executable, "-m", "payments.cli", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "STRIPE_WEBHOOK_SECRET is required" in result.stderr
    assert "sk_test_123" not in result.stderr


async def test_health_and_readiness(shop: Shop) -> None:
    """healthz says the process is up; readyz checks the database."""
    assert (await shop.client.get("/healthz")).json() == {"status": "ok"}
    ready = await shop.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_openapi_documents_every_route(shop: Shop) -> None:
    """The schema at /openapi.json lists the whole API with its error answers."""
    schema = (await shop.client.get("/openapi.json")).json()

    paths = schema["paths"]
    for path in (
        "/checkout/sessions",
        "/checkout/verify",
        "/webhooks/stripe",
        "/webhooks/stripe/connect",
        "/admin/sellers",
        "/admin/products",
        "/admin/products/{product_id}",
        "/admin/orders",
        "/admin/orders/{order_id}",
        "/orders/{order_id}",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    assert {"201", "409", "422", "502"} <= set(paths["/checkout/sessions"]["post"]["responses"])
    assert {"200", "400", "413", "503"} <= set(paths["/webhooks/stripe"]["post"]["responses"])


async def test_request_id_is_echoed(shop: Shop) -> None:
    """Each answer carries the request id its log lines were bound to."""
    response = await shop.client.get("/healthz", headers={"X-Request-ID": "abc-123"})

    assert response.headers["x-request-id"] == "abc-123"
