"""The sandbox's own thread for work that happens later: webhook deliveries and settlements.

A dedicated thread with its own event loop, rather than the server's loop, so the
same code runs whether the event came from the hosted page (server thread), from
a test calling FakeStripe in its own thread, or with no server running at all.
`Pending` counts that work so callers can wait for the sandbox to go quiet.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

STOP_TIMEOUT_SECONDS = 5.0


class BackgroundLoop:
    """One daemon thread running an asyncio loop, started on first use; calls are thread-safe."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        self._started().call_soon_threadsafe(callback, *args)

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> None:
        loop = self._started()
        loop.call_soon_threadsafe(loop.call_later, delay, callback, *args)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and wait for its result (never from the loop's own thread)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("BackgroundLoop.run() would deadlock on its own thread")
        return asyncio.run_coroutine_threadsafe(coro, self._started()).result(timeout)

    @property
    def running(self) -> bool:
        with self._lock:
            return self._loop is not None

    def stop(self) -> None:
        """Stop the loop and join the thread; a later call starts a fresh one."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT_SECONDS)

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=_run_forever, args=(loop,), name=self._name)
                thread.daemon = True
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        # Abandon work still in flight, letting each task see its cancellation.
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class Pending:
    """How much later-work is outstanding, and which reset epoch it belongs to.

    Work registered before a `reset()` belongs to an old generation: it must check
    `is_current` and drop itself, so a reset sandbox never sees stale deliveries.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0
        self._generation = 0

    @property
    def generation(self) -> int:
        with self._changed:
            return self._generation

    def add(self, count: int = 1) -> int:
        """Register work; returns the generation to hand back to `done`."""
        with self._changed:
            self._count += count
            return self._generation

    def done(self, generation: int, count: int = 1) -> None:
        with self._changed:
            if generation == self._generation:
                self._count -= count
                self._changed.notify_all()

    def is_current(self, generation: int) -> bool:
        with self._changed:
            return generation == self._generation

    def reset(self) -> None:
        with self._changed:
            self._generation += 1
            self._count = 0
            self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is outstanding; False if that did not happen within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._count > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True
