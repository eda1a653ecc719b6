"""`payments reconcile` as a person or a scheduler runs it: a real process, the sandbox
Stripe over HTTP (STRIPE_API_BASE), the summary line on stdout, the exit code."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import asyncpg
import pytest

import payments
from tests.conftest import ADMIN_KEY, CONNECT_SECRET, STRIPE_KEY, WEBHOOK_SECRET, Shop
from tests.support.processes import bare_env

# The code under test, wherever the suite runs from (a subprocess starts in another folder).
SOURCE = str(Path(payments.__file__).resolve().parents[1])


def reconcile_env(database_url: str, stripe_url: str, **settings: str) -> dict[str, str]:
    defaults = {
        "PYTHONPATH": SOURCE,
        "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_SECRET,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "ADMIN_API_KEY": ADMIN_KEY,
        "LOG_FORMAT": "json",
    }
    return bare_env(**{**defaults, **settings})


def reconcile(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payments.cli", "reconcile", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_command_applies_what_was_missed_and_says_so_in_one_line(
    shop: Shop, db: asyncpg.Connection, database_url: str, stripe_url: str, tmp_path: Path
) -> None:
    """Three paid orders whose webhooks never came (platform, direct, destination): the
    command confirms them, prints the summary alone on stdout and exits 0; run again, it
    finds them all recorded."""
    direct, destination = await shop.seller("direct"), await shop.seller("destination")
    checkouts = [
        await shop.checkout(await shop.product(stock=2, seller=seller))
        for seller in (None, direct, destination)
    ]
    for checkout in checkouts:
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
    env = reconcile_env(database_url, stripe_url)

    first = await asyncio.to_thread(reconcile, env, tmp_path, "--since", "2h")
    second = await asyncio.to_thread(reconcile, env, tmp_path)

    assert (first.returncode, first.stdout) == (0, "seen=3 recorded_before=0 applied=3 failed=0\n")
    assert (second.returncode, second.stdout) == (
        0,
        "seen=3 recorded_before=3 applied=0 failed=0\n",
    )
    for checkout in checkouts:
        assert (await shop.order(checkout["order_id"]))["status"] == "paid"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 3
    assert '"event": "reconcile.finished"' in first.stderr
    assert "\r" not in first.stderr  # no progress bar where stderr is not a terminal
    for secret in (STRIPE_KEY, WEBHOOK_SECRET, CONNECT_SECRET, ADMIN_KEY):
        assert secret not in first.stderr + second.stderr


async def test_a_failure_is_counted_logged_and_exits_non_zero(
    shop: Shop, database_url: str, stripe_url: str, tmp_path: Path
) -> None:
    """Stripe failing the platform's event list: `failed=1`, the seller's order confirmed
    all the same, a log line saying what failed, exit 1."""
    direct = await shop.seller("direct")
    on_platform = await shop.checkout(await shop.product(stock=2))
    on_seller = await shop.checkout(await shop.product(stock=2, seller=direct))
    for checkout in (on_platform, on_seller):
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
    shop.fake.fail_next(1, status=500, path_prefix="/v1/events")

    result = await asyncio.to_thread(reconcile, reconcile_env(database_url, stripe_url), tmp_path)

    assert (result.returncode, result.stdout) == (
        1,
        "seen=1 recorded_before=0 applied=1 failed=1\n",
    )
    assert '"event": "reconcile.listing_failed"' in result.stderr
    assert (await shop.order(on_seller["order_id"]))["status"] == "paid"
    assert (await shop.order(on_platform["order_id"]))["status"] == "pending"


@pytest.mark.parametrize(
    ("since", "says"),
    [
        ("31d", "further than Stripe keeps events (30 days)"),
        ("1000h", "further than Stripe keeps events (30 days)"),
        ("2w", "--since takes minutes, hours or days, e.g. 30m, 72h or 7d"),
        ("0h", "--since must be more than 0"),
    ],
)
def test_a_since_stripe_cannot_answer_is_refused_in_one_line(
    since: str, says: str, tmp_path: Path
) -> None:
    """--since past Stripe's 30 days of events, or not a duration: exit 2, one line."""
    env = bare_env(PYTHONPATH=SOURCE, SANDBOX_PORT="0")
    result = reconcile(env, tmp_path, "--since", since)

    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("payments: ")
    assert says in line
    assert list(tmp_path.iterdir()) == []  # nothing was opened


def test_a_settings_problem_is_refused_in_one_line(tmp_path: Path) -> None:
    """A malformed setting: exit 2, one line naming it, like the other commands."""
    env = bare_env(PYTHONPATH=SOURCE, STRIPE_SECRET_KEY="not-a-key")
    result = reconcile(env, tmp_path)

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "STRIPE_SECRET_KEY" in line
    assert "Traceback" not in result.stderr


def test_the_sandbox_with_any_port_needs_to_be_told_where_stripe_is(tmp_path: Path) -> None:
    """In sandbox mode the command asks the running sandbox's Stripe; with SANDBOX_PORT=0
    that port is unknown, and it says which setting gives it."""
    result = reconcile(bare_env(PYTHONPATH=SOURCE, SANDBOX_PORT="0"), tmp_path)

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "STRIPE_API_BASE" in line


async def test_on_a_terminal_a_progress_bar_shows_and_stdout_keeps_the_summary(
    shop: Shop, database_url: str, stripe_url: str, tmp_path: Path
) -> None:
    """stderr a terminal: a progress bar over the items (logs above it); stdout, piped,
    still carries the summary line alone."""
    for _ in range(2):
        checkout = await shop.checkout(await shop.product(stock=2))
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
    env = reconcile_env(database_url, stripe_url, LOG_FORMAT="console")

    stdout, terminal, code = await asyncio.to_thread(on_a_terminal, env, tmp_path)

    assert (code, stdout) == (0, "seen=2 recorded_before=0 applied=2 failed=0\n")
    assert "reconcile: 100%" in terminal
    assert "2/2" in terminal
    assert "reconcile.finished" in terminal


def on_a_terminal(env: dict[str, str], cwd: Path) -> tuple[str, str, int]:
    """Run the command with stderr on a pseudo-terminal; its stdout, what the terminal
    showed, and its exit code."""
    controller, terminal = pty.openpty()
    # A new pseudo-terminal is 0 columns wide; a person's is not.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "payments.cli", "reconcile"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None or select.select([controller], [], [], 0)[0]:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; it showed:\n{shown.decode()}")
            if select.select([controller], [], [], 0.1)[0]:
                try:
                    shown += os.read(controller, 65536)
                except OSError:  # the terminal closed with the process
                    break
        stdout = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(controller)
    return stdout, shown.decode(errors="replace"), proc.returncode


def test_a_database_that_is_not_there_is_refused_not_created(tmp_path: Path) -> None:
    """Run where the sandbox does not (no ./payments.db): exit 2, naming the database, and
    no new database filled with Stripe's events while the service's stays as it was."""
    result = reconcile(bare_env(PYTHONPATH=SOURCE), tmp_path)

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "payments.db" in line
    assert "DATABASE_URL" in line
    assert list(tmp_path.iterdir()) == []
