"""A webhook endpoint for delivery tests: records every POST, can fail the first few."""

import threading
import time
from dataclasses import dataclass

import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    def event(self, secret: str) -> stripe.Event:
        """The event, after checking its signature the way the service does."""
        return stripe.Webhook.construct_event(self.body, self.headers["stripe-signature"], secret)


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._failures_left = 0
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    def reset(self, *, fail_first: int = 0) -> None:
        with self._lock:
            self._received.clear()
            self._failures_left = fail_first

    def fail_next(self, count: int) -> None:
        """Answer 500 to the next `count` requests (they are still recorded)."""
        with self._lock:
            self._failures_left = count

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"expected {count} deliveries: {self.received}"
            time.sleep(0.01)
        return self.received

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self._received.append(
                Received(
                    "/" + request.path_params["path"],
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    time.monotonic(),
                )
            )
            failing = self._failures_left > 0
            if failing:
                self._failures_left -= 1
        return Response("nope" if failing else "ok", status_code=500 if failing else 200)
