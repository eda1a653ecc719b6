"""The processes under test: `payments serve`, C and D under uvicorn, the sandbox's Stripe.

Each runs as a real child process with its own log file, started the way people run
it, and is stopped (SIGTERM, then SIGKILL) when its block ends.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.events import SECRETS
from tests.support.processes import bare_env, free_port

STRIPE_KEY = "sk_test_bench_0123456789"
ADMIN_KEY = "bench-admin-key-0123456789"
START_SECONDS = 60.0


def service_env(database_url: str, stripe_api_base: str) -> dict[str, str]:
    """`payments serve` as deployed: Postgres, a Stripe key, the webhook secrets, outbox on
    (the default), logging at WARNING so that logging is not what is measured."""
    return bare_env(
        DATABASE_URL=database_url,
        STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=SECRETS.platform,
        STRIPE_CONNECT_WEBHOOK_SECRET=SECRETS.connect,
        STRIPE_API_BASE=stripe_api_base,
        ADMIN_API_KEY=ADMIN_KEY,
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
        DOCS_ENABLED="false",
    )


def unused_url() -> str:
    """A local address nothing listens on: the webhook path never calls Stripe."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def payments_serve(
    database_url: str, *, workers: int, stripe_api_base: str, **settings: str
) -> Iterator[int]:
    """`payments serve --workers N` until the block ends; yields its port. `settings`
    add to or override `service_env`'s (bench/explain.py turns the outbox off)."""
    port = free_port()
    command = [sys.executable, "-m", "payments.cli", "serve", "--port", str(port)]
    # An empty working directory: a developer's .env in the checkout must not steer it.
    with (
        tempfile.TemporaryDirectory(prefix="bench-serve-") as home,
        _process(
            [*command, "--workers", str(workers)],
            {**service_env(database_url, stripe_api_base), **settings},
            port,
            f"payments-serve-{workers}w",
            cwd=Path(home),
        ),
    ):
        yield port


@contextmanager
def uvicorn_app(app: str, plain_database_url: str) -> Iterator[int]:
    """One of the bench's own apps (C or D) under the server `payments serve` uses:
    uvicorn with its defaults (uvloop and httptools when installed), one worker,
    no access log, proxy headers on, as in src/payments/cli.py."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--proxy-headers",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    env = bare_env(
        BENCH_DATABASE_URL=plain_database_url,
        STRIPE_WEBHOOK_SECRET=SECRETS.platform,
        STRIPE_CONNECT_WEBHOOK_SECRET=SECRETS.connect,
    )
    with _process(command, env, port, app.partition(":")[0]):
        yield port


@contextmanager
def sandbox_stripe() -> Iterator[str]:
    """The sandbox's Stripe-compatible server in a process of its own; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "bench.sandbox_stripe", "--port", str(port)]
    # It has no health route: any answer of Stripe's (a 401 without a key) means it is up.
    with _process(command, bare_env(), port, "sandbox-stripe", any_answer=True):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _process(
    command: list[str],
    env: dict[str, str],
    port: int,
    name: str,
    *,
    any_answer: bool = False,
    cwd: Path | None = None,
) -> Iterator[None]:
    with tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log") as log:
        proc = subprocess.Popen(  # noqa: S603 (our own commands, no shell)
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd or _root()
        )
        try:
            url = f"http://127.0.0.1:{port}" + ("/" if any_answer else "/readyz")
            _wait_ready(url, proc, Path(log.name), name, any_answer=any_answer)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _root() -> Path:
    """The checkout: `bench` and `tests` are imported from it."""
    return Path(__file__).resolve().parent.parent


class ServerFailed(RuntimeError):
    """A process under test exited or never became ready; the message has its log."""


def _wait_ready(
    url: str, proc: subprocess.Popen[bytes], log: Path, name: str, *, any_answer: bool
) -> None:
    """Until `url` answers 200 (or anything, with `any_answer`); fails if the process exits."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our URL)
                if response.status == 200:
                    return
        except urllib.error.HTTPError:
            if any_answer:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise ServerFailed(f"{name} never answered {url}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
