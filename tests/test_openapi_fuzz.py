"""Schemathesis over /openapi.json finds no 5xx and no mismatch with the schema.

The real app (real Postgres, the sandbox Stripe over HTTP) runs under uvicorn;
the `schemathesis` CLI runs every check in every phase against it, once as an
anonymous client and once with the admin key. Seed and example count are fixed
in tests/support/schemathesis.toml, so a failure reproduces.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from payments.app import create_app
from payments.sandbox.server import serve_in_thread
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import ADMIN_KEY, CONNECT_SECRET, WEBHOOK_SECRET, make_settings, truncate_all

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "support" / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def live_service(database_url: str, stripe_url: str, fake_stripe: FakeStripe) -> Iterator[str]:
    asyncio.run(truncate_all(database_url))
    fake_stripe.reset()
    app = create_app(make_settings(database_url, stripe_url))
    with serve_in_thread(app, lifespan=True) as url:
        yield url


def seed(url: str) -> dict[str, str]:
    """A seller, a product, one checkout and a webhook endpoint, whose ids the fuzzer uses
    as real ones."""
    with httpx.Client(base_url=url, headers=ADMIN) as client:
        seller = client.post(
            "/admin/sellers",
            json={
                "name": "Fuzz seller",
                "stripe_account_id": "acct_fuzz",
                "charge_type": "destination",
                "fee_bps": 500,
            },
        ).json()
        # Cheap and unlimited: any cart the schema allows stays under Stripe's maximum.
        product = client.post(
            "/admin/products",
            json={"name": "Fuzz ticket", "unit_amount": 100, "currency": "usd", "stock": None},
        ).json()
        checkout = client.post(
            "/checkout/sessions", json={"items": [{"product_id": product["id"], "quantity": 1}]}
        ).json()
        endpoint = client.post(
            "/admin/webhook-endpoints",
            json={"url": "https://shop.example.com/hooks", "events": ["*"]},
        ).json()
    return {
        "FUZZ_ENDPOINT_ID": endpoint["id"],
        "FUZZ_SELLER_ID": seller["id"],
        "FUZZ_PRODUCT_ID": product["id"],
        "FUZZ_ORDER_ID": checkout["order_id"],
        "FUZZ_SESSION_ID": checkout["session_id"],
    }


@pytest.mark.parametrize("admin", [False, True], ids=["anonymous", "admin"])
def test_schemathesis_finds_nothing(live_service: str, admin: bool) -> None:
    """No 5xx, every status, header, content type and body as the schema says."""
    env = {
        **os.environ,
        **seed(live_service),
        "FUZZ_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FUZZ_CONNECT_SECRET": CONNECT_SECRET,
        "PYTHONPATH": str(ROOT),
    }
    auth = ["--header", f"Authorization: Bearer {ADMIN_KEY}"] if admin else []

    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "--no-color",
            "run",
            f"{live_service}/openapi.json",
            "--checks",
            "all",
            *auth,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
