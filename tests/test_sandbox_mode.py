"""Zero-config start: `payments serve` with no settings runs the sandbox on SQLite, and
`payments demo` proves a whole purchase. Real processes, real HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from payments.config import SANDBOX_ADMIN_KEY
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.processes import free_port, wait_ready

ADMIN = {"Authorization": f"Bearer {SANDBOX_ADMIN_KEY}"}


def bare_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh machine: no payments settings at all."""
    prefixes = ("DATABASE", "STRIPE", "ADMIN", "SANDBOX", "PUBLIC_URL", "SEED", "AUTO_MIGRATE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, **extra}


@dataclass
class Served:
    url: str
    cwd: Path
    output: Path


@pytest.fixture
def zero_config_service(tmp_path: Path) -> Iterator[Served]:
    """`payments serve` in an empty folder; only the ports are chosen, to avoid clashes."""
    port, stripe_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = bare_env(
        PUBLIC_URL=url, SANDBOX_PORT=str(stripe_port), SANDBOX_ASYNC_SETTLE_SECONDS="0.5"
    )
    output = tmp_path / "service.log"
    with output.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "payments.cli", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(url, proc)
            yield Served(url=url, cwd=tmp_path, output=output)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def pay(checkout_url: str, **form: str) -> httpx.Response:
    """What the buyer's browser does on the hosted page."""
    return httpx.post(checkout_url, data={"action": "pay", **form}, timeout=10)


def wait_for(check, within: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition never became true")
        time.sleep(0.05)


def test_zero_config_purchase_is_confirmed_by_the_sandbox_webhook(zero_config_service) -> None:
    """No database, key or secret set: SQLite, sandbox Stripe, seeded catalog, signed webhook."""
    served = zero_config_service
    with httpx.Client(base_url=served.url, timeout=10) as http:
        storefront = http.get("/")
        products = http.get("/products").json()["data"]
        shirt = next(p for p in products if p["name"] == "Payments T-shirt")
        checkout = http.post(
            "/checkout/sessions",
            json={"items": [{"product_id": shirt["id"], "quantity": 2}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        ).json()

        paid = pay(checkout["checkout_url"])
        # No verify call: the sandbox's webhook alone must confirm the order.
        wait_for(lambda: http.get(f"/orders/{checkout['order_id']}").json()["status"] == "paid")
        order = http.get(f"/admin/orders/{checkout['order_id']}", headers=ADMIN).json()
        stock = http.get(f"/admin/products/{shirt['id']}", headers=ADMIN).json()["stock"]

    assert "sandbox-banner" in storefront.text
    assert len(products) == 4
    assert paid.status_code == 303
    assert order["confirmed_via"] == "webhook"
    assert stock == shirt["stock"] - 2
    assert (served.cwd / "payments.db").exists()
    log = served.output.read_text()
    assert "SANDBOX MODE" in log
    assert "sk_test_sandbox" not in log


def test_last_slot_bought_twice_on_sqlite_refunds_one(zero_config_service) -> None:
    """The exactly-once rules hold on the embedded database too: one paid, one refunded."""
    served = zero_config_service
    with httpx.Client(base_url=served.url, timeout=10) as http:
        seat = next(
            p for p in http.get("/products").json()["data"] if p["name"] == "Last workshop seat"
        )
        checkouts = [
            http.post(
                "/checkout/sessions",
                json={"items": [{"product_id": seat["id"], "quantity": 1}]},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            ).json()
            for _ in range(2)
        ]
        for checkout in checkouts:
            assert pay(checkout["checkout_url"]).status_code == 303

        def settled() -> bool:
            statuses = {http.get(f"/orders/{c['order_id']}").json()["status"] for c in checkouts}
            return statuses == {"paid", "refunded"}

        wait_for(settled)
        orders = [
            http.get(f"/admin/orders/{c['order_id']}", headers=ADMIN).json() for c in checkouts
        ]
        stock = http.get(f"/admin/products/{seat['id']}", headers=ADMIN).json()["stock"]

    refunded = next(o for o in orders if o["status"] == "refunded")
    assert refunded["cancel_reason"] == "out_of_stock"
    assert len(refunded["refunds"]) == 1
    assert stock == 0


def test_demo_command_passes_on_a_temporary_sqlite_database(tmp_path: Path) -> None:
    """`payments demo` runs a whole purchase and exits 0 only when it was confirmed once."""
    result = subprocess.run(
        [sys.executable, "-m", "payments.cli", "demo"],
        env=bare_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Result: PASS" in result.stdout
    assert "the stock moved exactly once" in result.stdout
    assert list(tmp_path.iterdir()) == []  # its database was temporary


def test_demo_command_runs_on_a_given_postgres_database(pg_server: PostgresServer) -> None:
    """`payments demo --database-url` uses the database it is told to (migrating it first)."""
    name = f"payments_demo_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(pg_server, name))
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "payments.cli",
                "demo",
                "--database-url",
                pg_server.database_url(name),
            ],
            env=bare_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        asyncio.run(drop_database(pg_server, name))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Result: PASS" in result.stdout
