"""Start-up, configuration, health and the OpenAPI schema."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from payments.config import SettingsError, load_settings
from tests.conftest import Shop, make_settings


def test_missing_setting_is_named(monkeypatch) -> None:
    """A missing setting stops start-up with a message that names it."""
    for name in ("DATABASE_URL", "STRIPE_SECRET_KEY", "ADMIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")  # no .env here

    with pytest.raises(SettingsError, match="STRIPE_SECRET_KEY is required"):
        load_settings(database_url="postgresql+asyncpg://x/y")


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
    ],
)
def test_malformed_setting_is_named(name, value, message) -> None:
    """A malformed setting is refused with its name, and the secret itself is never echoed."""
    overrides = {"database_url": "postgresql+asyncpg://x/y", name: value}
    with pytest.raises(SettingsError, match=message) as caught:
        make_settings(overrides.pop("database_url"), "http://127.0.0.1:1", **overrides)
    assert "hunter2" not in str(caught.value)


def test_serve_without_configuration_exits_with_the_missing_names(tmp_path) -> None:
    """`payments serve` on a bare machine prints what to set and exits non-zero."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE", "DATABASE", "ADMIN"))}
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
    assert "DATABASE_URL is required" in result.stderr
    assert "STRIPE_SECRET_KEY is required" in result.stderr


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
