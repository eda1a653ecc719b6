"""`payments serve` as a child process that a test starts, stops, kills and starts again."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from tests.conftest import ADMIN_KEY, CONNECT_SECRET, STRIPE_KEY, WEBHOOK_SECRET
from tests.support.processes import bare_env, free_port, wait_ready

STOP_SECONDS = 20.0


def service_env(database_url: str, stripe_url: str, **settings: str) -> dict[str, str]:
    """The service's settings for a real deployment against the test's Stripe server.

    Logs are JSON at WARNING: one line per request at INFO would cost the service CPU
    the load tests want for the webhooks, and warnings (out of stock, outages) stay.
    """
    defaults = {
        "DATABASE_URL": database_url,
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_SECRET,
        "STRIPE_API_BASE": stripe_url,
        "ADMIN_API_KEY": ADMIN_KEY,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "OUTBOX_POLL_SECONDS": "0.2",
        "DB_POOL_SIZE": "20",
    }
    return bare_env(**{**defaults, **settings})


class Service:
    """One `payments serve` on a fixed port: `start()` again after `kill()` or `stop()` is
    the same endpoint coming back, as Stripe sees it (it keeps the URL).

    Output of every run goes to one log file, appended, for the failure report.
    """

    def __init__(self, env: dict[str, str], *, log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process and return once /readyz answers 200 (fails if it exits)."""
        assert self._proc is None or self._proc.poll() is not None, "already running"
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "payments.cli", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.log_path.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_ready(self.url, self._proc)
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a lost machine would: no shutdown code runs."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=STOP_SECONDS)

    def stop(self) -> None:
        """SIGTERM and wait (uvicorn finishes what is in flight); SIGKILL if it hangs."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
