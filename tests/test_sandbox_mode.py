"""Zero-config start: `payments serve` with no settings runs the sandbox on SQLite, and
`payments demo` proves a whole purchase. Real processes, real HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from payments.config import SANDBOX_ADMIN_KEY
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.processes import bare_env, free_port, running_service, wait_for

ADMIN = {"Authorization": f"Bearer {SANDBOX_ADMIN_KEY}"}


@dataclass
class Served:
    url: str
    cwd: Path
    output: Path


@pytest.fixture
def zero_config_service(tmp_path: Path) -> Iterator[Served]:
    """`payments serve --port N` in an empty folder. Only the ports are chosen; with no
    PUBLIC_URL the service must work out where its own success page and webhooks are."""
    env = bare_env(SANDBOX_PORT=str(free_port()), SANDBOX_ASYNC_SETTLE_SECONDS="0.5")
    output = tmp_path / "service.log"
    with running_service(env, cwd=tmp_path, log_path=output) as url:
        yield Served(url=url, cwd=tmp_path, output=output)


def pay(checkout_url: str, **form: str) -> httpx.Response:
    """What the buyer's browser does on the hosted page."""
    return httpx.post(checkout_url, data={"action": "pay", **form}, timeout=10)


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
        # Both buyers pay at the same moment, and their success pages verify at once too.
        with ThreadPoolExecutor(max_workers=4) as pool:
            paid = list(pool.map(lambda c: pay(c["checkout_url"]), checkouts))
            verified = list(
                pool.map(
                    lambda c: http.get("/checkout/verify", params={"session_id": c["session_id"]}),
                    checkouts * 2,
                )
            )
        assert [p.status_code for p in paid] == [303, 303]
        assert all(v.status_code == 200 for v in verified)

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


def test_sandbox_start_prints_the_storefront_address(zero_config_service) -> None:
    """The person who typed `make run` gets the address to open on a plain line of its own."""
    lines = zero_config_service.output.read_text().splitlines()

    assert f"Storefront: {zero_config_service.url}" in lines


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


async def test_sandbox_start_expires_orders_of_sessions_it_forgot(shop) -> None:
    """The sandbox keeps sessions in memory: after a restart their open orders are expired."""
    from payments.sandbox_mode import close_orphaned_checkouts

    checkout = await shop.checkout(await shop.product())

    closed = await close_orphaned_checkouts(shop.app.state.database)

    assert (closed.expired, closed.failed) == (1, 0)
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["cancel_reason"]) == ("expired", "sandbox_restarted")


def test_restarted_sandbox_fails_orders_whose_bank_debit_it_forgot(tmp_path: Path) -> None:
    """A bank debit still settling lived in the sandbox's memory and never settles after a
    restart: its processing order ends failed (sandbox_restarted), not processing for ever."""
    env = bare_env(SANDBOX_PORT=str(free_port()), SANDBOX_ASYNC_SETTLE_SECONDS="3600")
    with (
        running_service(env, cwd=tmp_path, log_path=tmp_path / "first.log") as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        product = http.get("/products").json()["data"][0]
        checkout = http.post(
            "/checkout/sessions",
            json={"items": [{"product_id": product["id"], "quantity": 1}]},
        ).json()
        completed = httpx.post(
            f"http://127.0.0.1:{env['SANDBOX_PORT']}/_sandbox/sessions/"
            f"{checkout['session_id']}/complete",
            json={"outcome": "async_succeed"},
            headers={"Authorization": "Bearer sk_test_sandbox"},
            timeout=10,
        )
        order_url = f"/orders/{checkout['order_id']}"
        wait_for(lambda: http.get(order_url).json()["status"] == "processing")

    with running_service(env, cwd=tmp_path, log_path=tmp_path / "second.log") as url:
        order = httpx.get(f"{url}/orders/{checkout['order_id']}", timeout=10).json()

    assert completed.status_code == 200, completed.text
    assert (order["status"], order["cancel_reason"]) == ("failed", "sandbox_restarted")
