"""Running the service as a real process, the way people run it."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base_url: str, proc: subprocess.Popen[bytes], *, within: float = 60.0) -> None:
    """Wait until /readyz answers 200; fail at once if the process exits."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the service exited with {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the service never became ready")


SETTING_PREFIXES = (
    "DATABASE",
    "DB_",
    "STRIPE",
    "ADMIN",
    "SANDBOX",
    "PUBLIC_URL",
    "SEED",
    "AUTO_MIGRATE",
    "CHECKOUT_",
    "OUTBOX",
    "RECONCILE",
    "LOG_",
)


def bare_env(**settings: str) -> dict[str, str]:
    """This machine's environment without any payments setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    return {**env, **settings}


@contextmanager
def running_service(
    env: dict[str, str], *, cwd: Path, log_path: Path, port: int | None = None
) -> Iterator[str]:
    """`payments serve` as a child process until the block ends; yields its base URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "payments.cli", "serve", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(check: Callable[[], bool], *, within: float = 20.0) -> None:
    """Wait for what another process does; fails only if it never happens."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition never became true")
        time.sleep(0.05)


def output_on_a_terminal(env: dict[str, str], *, cwd: Path, until: str) -> str:
    """`payments serve` with a terminal (a pty) as stdout and stderr, as a person runs it.

    Returns what it printed up to the end of the first line containing `until`, then
    stops it; fails if it exits or never prints that line.
    """
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "payments.cli", "serve", "--port", str(free_port())],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    output = ""
    deadline = time.monotonic() + 60
    try:
        while until not in output or "\n" not in output[output.index(until) :]:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"never printed {until!r}; it printed:\n{output}")
            if select.select([controller], [], [], 0.2)[0]:
                output += os.read(controller, 65536).decode(errors="replace")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(controller)
    return output.replace("\r\n", "\n")


def line_with(output: str, text: str) -> str:
    """The first line of `output` containing `text`."""
    return next(line for line in output.splitlines() if text in line)
