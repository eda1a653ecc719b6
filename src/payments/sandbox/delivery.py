"""Webhook delivery: POST each recorded event to its endpoint, signed, retried, maybe chaotic.

Like Stripe, an event goes to the Connect endpoint when it happened on a connected
account (it has `account`) and to the platform endpoint otherwise; any answer
other than 2xx, or no answer, is retried after the next of `retry_delays` (Stripe's
backoff, compressed) until a 2xx or the delays run out. Every attempt is signed
afresh, as Stripe re-signs retries with a new timestamp.

All sending happens on the sandbox's background loop: `submit` only schedules, so
recording an event (inside a pay-page request or a test's call) never waits on
the receiver. The first attempts of one session's events go out one at a time, in
a known order, so receivers and tests see a deterministic sequence; retries run
independently of that order, as on Stripe.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx
import structlog

from payments.sandbox.background import BackgroundLoop, Pending
from payments.sandbox.chaos import Chaos, ChaosSettings

log = structlog.get_logger(__name__)

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
REQUEST_TIMEOUT_SECONDS = 10.0
SIMULATED_FAILURE = "chaos: simulated failure"
WITHHELD = "chaos: never delivered"
DROPPED = "dropped: never delivered"
CLOSE_TIMEOUT_SECONDS = 5.0

Signer = Callable[[dict[str, Any]], tuple[bytes, dict[str, str]]]
"""`FakeStripe.signed`: the body and headers for an event, signed for its endpoint."""

Drop = int | Literal["all"]
"""How many of the next events to drop: a count (0 = none), or "all" from now on."""


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try at delivering one event.

    `attempt` counts from 1 per copy of the event; 0 marks an event withheld by
    chaos `never` (error WITHHELD) or by `drop` (error DROPPED), which is recorded
    so tests and the demo can see it was skipped.
    `status` is the HTTP status, None when nothing answered (network error or a
    chaos-simulated failure, explained by `error`).
    """

    event_id: str
    type: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    timestamp: float

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "delivered": self.delivered}


@dataclass(frozen=True)
class _Endpoints:
    platform_url: str | None
    connect_url: str | None
    retry_delays: tuple[float, ...]


@dataclass(eq=False)
class _Job:
    """One copy of one event on its way to one URL (chaos `duplicate` makes two)."""

    event: dict[str, Any]
    url: str
    chaos: Chaos
    retry_delays: tuple[float, ...]
    sequence: int
    generation: int
    group: str
    ready_at: float
    attempts: int = 0


class Deliverer:
    """Sends recorded events to the configured endpoints; `submit` is the store's listener."""

    def __init__(
        self,
        *,
        sign: Signer,
        chaos: ChaosSettings,
        background: BackgroundLoop,
        pending: Pending,
        on_delivered: Callable[[str], None] = lambda _event_id: None,
    ) -> None:
        """`on_delivered` is told the id of each event an endpoint accepted (2xx)."""
        self._sign = sign
        self._on_delivered = on_delivered
        self._chaos = chaos
        self._background = background
        self._pending = pending
        self._lock = threading.Lock()
        self._endpoints: _Endpoints | None = None
        self._attempts: list[DeliveryAttempt] = []
        self._sequence = 0
        self._drop: Drop = 0
        # Touched only on the background loop's thread:
        self._held: dict[str, list[_Job]] = {}
        self._queues: dict[str, list[_Job]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._retries: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def configure(
        self,
        platform_url: str | None,
        connect_url: str | None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        """Where events go from now on; both None turns automatic delivery off."""
        delays = tuple(float(delay) for delay in retry_delays)
        if any(delay < 0 for delay in delays):
            raise ValueError(f"retry delays must be >= 0, got {delays}")
        with self._lock:
            if platform_url is None and connect_url is None:
                self._endpoints = None
            else:
                self._endpoints = _Endpoints(platform_url, connect_url, delays)

    def submit(self, event: dict[str, Any]) -> None:
        """Schedule delivery of a just-recorded event; returns at once, from any thread."""
        with self._lock:
            endpoints = self._endpoints
        if endpoints is None:
            return
        url = endpoints.connect_url if "account" in event else endpoints.platform_url
        if url is None:
            return
        if self._take_drop():
            self._record(event, url, 0, None, DROPPED, self._pending.generation)
            return
        session_id = _session_id(event)
        chaos = self._chaos.for_session(session_id)
        if chaos.never:
            self._record(event, url, 0, None, WITHHELD, self._pending.generation)
            return
        copies = 2 if chaos.duplicate else 1
        generation = self._pending.add(copies)
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
        snapshot = copy.deepcopy(event)
        ready_at = time.monotonic() + chaos.delay
        group = session_id or _object_id(event) or event["id"]
        jobs = [
            _Job(
                snapshot, url, chaos, endpoints.retry_delays, sequence, generation, group, ready_at
            )
            for _ in range(copies)
        ]
        self._background.call_soon(self._enqueue, jobs)

    def drop(self, count: Drop) -> None:
        """Never send the next `count` events that have an endpoint, or "all" from now on;
        0 stops dropping. They are still recorded (and listed by `GET /v1/events`),
        whatever the chaos settings say, as when Stripe's webhooks do not get through."""
        if count != "all" and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise ValueError(f"drop takes a count >= 0 or 'all', got {count!r}")
        with self._lock:
            self._drop = count

    @property
    def dropping(self) -> Drop:
        """What is still to be dropped: a count, or "all"."""
        with self._lock:
            return self._drop

    def _take_drop(self) -> bool:
        with self._lock:
            if isinstance(self._drop, int):
                if self._drop == 0:
                    return False
                self._drop -= 1
            return True

    def attempts(self) -> list[DeliveryAttempt]:
        with self._lock:
            return list(self._attempts)

    def clear(self) -> None:
        """Forget the attempt log, dropping and all queued work (after `Pending.reset`, which
        drops it)."""
        with self._lock:
            self._attempts.clear()
            self._drop = 0
        if self._background.running:
            self._background.call_soon(self._forget)

    def close(self) -> None:
        """Close the HTTP client; call before stopping the background loop."""
        if self._background.running:
            self._background.run(self._close_client(), CLOSE_TIMEOUT_SECONDS)

    # Everything below runs on the background loop.

    def _enqueue(self, jobs: list[_Job]) -> None:
        first = jobs[0]
        if not self._pending.is_current(first.generation):
            return
        held = self._held.pop(first.group, [])
        if first.chaos.reorder and _awaits_settlement(first.event):
            # Hold `completed` until the settlement exists, so the receiver gets them reversed.
            self._held[first.group] = held + jobs
            return
        for job in held:
            job.ready_at = max(job.ready_at, first.ready_at)
        queue = self._queues.setdefault(first.group, [])
        queue.extend(held + jobs)
        if first.group not in self._senders:
            self._senders[first.group] = asyncio.get_running_loop().create_task(
                self._send_group(first.group, queue)
            )

    async def _send_group(self, group: str, queue: list[_Job]) -> None:
        """First attempts of one group, in order: oldest first, or newest first under reorder."""
        try:
            while queue:
                wait = min(job.ready_at for job in queue) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # more may have arrived meanwhile
                now = time.monotonic()
                ready = [job for job in queue if job.ready_at <= now]
                queue[:] = [job for job in queue if job.ready_at > now]
                newest_first = any(job.chaos.reorder for job in ready)
                ready.sort(key=lambda job: job.sequence, reverse=newest_first)
                for job in ready:
                    await self._attempt(job)
        finally:
            if self._queues.get(group) is queue:
                del self._queues[group]
                del self._senders[group]

    async def _attempt(self, job: _Job) -> None:
        if not self._pending.is_current(job.generation):
            return
        job.attempts += 1
        status: int | None = None
        error: str | None = SIMULATED_FAILURE
        if job.attempts > job.chaos.fail_first:
            status, error = await self._post(job)
        self._record(job.event, job.url, job.attempts, status, error, job.generation)
        if status is not None and 200 <= status < 300:
            self._pending.done(job.generation)
            return
        if job.attempts > len(job.retry_delays):
            log.warning(
                "sandbox.webhook.gave_up",
                event_id=job.event["id"],
                url=job.url,
                attempts=job.attempts,
            )
            self._pending.done(job.generation)
            return
        delay = job.retry_delays[job.attempts - 1]
        asyncio.get_running_loop().call_later(delay, self._retry, job)

    def _retry(self, job: _Job) -> None:
        task = asyncio.get_running_loop().create_task(self._attempt(job))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _post(self, job: _Job) -> tuple[int | None, str | None]:
        body, headers = self._sign(job.event)
        if self._client is None:
            # No proxies from the environment: the receiver is addressed directly, as by Stripe.
            self._client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, trust_env=False)
        try:
            response = await self._client.post(
                job.url, content=body, headers={**headers, "User-Agent": USER_AGENT}
            )
        except Exception as error:  # any failure to get an answer is a failed attempt
            return None, _describe(error)
        return response.status_code, None

    def _record(
        self,
        event: dict[str, Any],
        url: str,
        attempt: int,
        status: int | None,
        error: str | None,
        generation: int,
    ) -> None:
        entry = DeliveryAttempt(
            event["id"], event["type"], url, attempt, status, error, time.time()
        )
        with self._lock:
            # Checked under our lock: a reset (generation bump, then clear) cannot interleave.
            current = self._pending.is_current(generation)
            if current:
                self._attempts.append(entry)
        if current and entry.delivered:
            # Outside our lock: the store's lock is taken before ours when events are submitted.
            self._on_delivered(entry.event_id)
        log.info(
            "sandbox.webhook.attempt",
            event_id=entry.event_id,
            type=entry.type,
            url=url,
            attempt=attempt,
            status=status,
            error=error,
        )

    def _forget(self) -> None:
        for task in self._senders.values():
            task.cancel()
        self._held, self._queues, self._senders = {}, {}, {}

    async def _close_client(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _object(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    found = data.get("object") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def _object_id(event: dict[str, Any]) -> str | None:
    found = _object(event).get("id")
    return found if isinstance(found, str) else None


def _session_id(event: dict[str, Any]) -> str | None:
    """The Checkout Session an event is about, which is what per-session chaos is keyed by."""
    return _object_id(event) if _object(event).get("object") == "checkout.session" else None


def _awaits_settlement(event: dict[str, Any]) -> bool:
    """A session completed with a delayed payment method: its settlement event will follow."""
    obj = _object(event)
    return event["type"] == "checkout.session.completed" and obj.get("payment_status") == "unpaid"


def _describe(error: Exception) -> str:
    detail = str(error)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__
