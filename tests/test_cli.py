"""The README's path with real processes: `payments migrate`, `payments serve`, real HTTP."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN_KEY, CONNECT_SECRET, STRIPE_KEY, WEBHOOK_SECRET
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.processes import bare_env, free_port, running_service


@pytest.fixture
def service_env(pg_server: PostgresServer, stripe_url: str) -> Iterator[dict[str, str]]:
    """A fresh, empty database and the environment a newcomer would put in .env."""
    name = f"payments_cli_{uuid.uuid4().hex[:8]}"
    asyncio.run(create_database(pg_server, name))
    yield bare_env(
        DATABASE_URL=pg_server.database_url(name),
        STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_CONNECT_WEBHOOK_SECRET=CONNECT_SECRET,
        STRIPE_API_BASE=stripe_url,
        ADMIN_API_KEY=ADMIN_KEY,
        LOG_FORMAT="json",
    )
    asyncio.run(drop_database(pg_server, name))


def payments(*args: str) -> list[str]:
    return [sys.executable, "-m", "payments.cli", *args]


def test_migrate_serve_sell_and_confirm(service_env, fake_stripe, tmp_path) -> None:
    """A newcomer's purchase: migrate, serve, add a product, check out, confirm by webhook."""
    fake_stripe.reset()
    migrated = subprocess.run(
        payments("migrate"),
        env=service_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr

    log_path = tmp_path / "service.log"
    with running_service(service_env, cwd=tmp_path, log_path=log_path) as base:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=base, timeout=30) as http:
            product = http.post(
                "/admin/products",
                json={"name": "Ticket", "unit_amount": 2500, "currency": "usd", "stock": 3},
                headers=admin,
            ).json()
            checkout = http.post(
                "/checkout/sessions",
                json={"items": [{"product_id": product["id"], "quantity": 1}]},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            ).json()
            fake_stripe.complete_session(checkout["session_id"], outcome="paid")
            body, headers = fake_stripe.signed(fake_stripe.last_event("checkout.session.completed"))

            delivered = http.post("/webhooks/stripe", content=body, headers=headers)
            verified = http.get("/checkout/verify", params={"session_id": checkout["session_id"]})
            stock = http.get(f"/admin/products/{product['id']}", headers=admin).json()["stock"]
            public = http.get(f"/orders/{checkout['order_id']}").json()
    output = log_path.read_text()

    assert delivered.json() == {"received": True, "outcome": "paid"}
    assert verified.json() == {"order_id": checkout["order_id"], "status": "paid", "paid": True}
    assert stock == 2
    assert public["status"] == "paid"
    assert '"event": "payment.confirmed"' in output
    assert WEBHOOK_SECRET not in output
    assert STRIPE_KEY not in output


def serve(port: int, env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        payments("serve", "--port", str(port)),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_second_instance_names_the_sandbox_port_it_cannot_take(tmp_path) -> None:
    """A second sandbox on a taken SANDBOX_PORT says so in one line, not a traceback."""
    sandbox_port = str(free_port())
    env = bare_env(SANDBOX_PORT=sandbox_port)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()

    with running_service(env, cwd=first, log_path=tmp_path / "first.log"):
        result = serve(free_port(), env, second)

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"port {sandbox_port}" in result.stderr
    assert "SANDBOX_PORT=0" in result.stderr
    # Following only the port advice would share ./payments.db: the line says both.
    assert "DATABASE_URL=sqlite+aiosqlite:///./second.db" in result.stderr


def test_second_sandbox_on_the_same_database_file_is_refused(tmp_path) -> None:
    """A second sandbox on its own port but the first one's ./payments.db would expire the
    first one's open orders on start: it refuses in one line, and the orders stay open."""
    first_env = bare_env(SANDBOX_PORT=str(free_port()))
    with running_service(first_env, cwd=tmp_path, log_path=tmp_path / "first.log") as base:
        product = httpx.get(f"{base}/products", timeout=10).json()["data"][0]
        checkout = httpx.post(
            f"{base}/checkout/sessions",
            json={"items": [{"product_id": product["id"], "quantity": 1}]},
            timeout=10,
        ).json()

        result = serve(free_port(), bare_env(SANDBOX_PORT="0"), tmp_path)

        order = httpx.get(f"{base}/orders/{checkout['order_id']}", timeout=10).json()

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"another payments sandbox is running on {tmp_path / 'payments.db'}" in result.stderr
    assert "DATABASE_URL=sqlite+aiosqlite:///./second.db" in result.stderr
    assert order["status"] == "pending"


def test_port_out_of_range_is_one_line(tmp_path) -> None:
    """`make run PORT=99999`: one line naming --port, not a traceback about PUBLIC_URL."""
    result = serve(99999, bare_env(SANDBOX_PORT="0"), tmp_path)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "payments: --port must be a port number from 1 to 65535, not 99999"
    )


def test_unknown_host_is_refused_before_any_start_up_work(tmp_path) -> None:
    """`make run HOST=nonexistent.invalid`: one line naming the host and --host, said before
    the sandbox, the database or the demo catalog were set up."""
    result = subprocess.run(
        payments("serve", "--host", "nonexistent.invalid", "--port", str(free_port())),
        env=bare_env(SANDBOX_PORT="0"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "cannot listen on nonexistent.invalid" in line
    assert "--host" in line
    assert list(tmp_path.iterdir()) == []  # no payments.db: nothing had started


def test_taken_http_port_is_named_with_the_flag_that_chooses_it(tmp_path) -> None:
    """`payments serve --port N` on a taken port says which, and how to pick another."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = serve(port, bare_env(SANDBOX_PORT="0"), tmp_path)

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"port {port}" in result.stderr
    assert "--port" in result.stderr
