"""Running an ASGI app on a real local port in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT_SECONDS = 60.0


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket taken now, so its port is ours before anything is built on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def serve_in_thread(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    lifespan: bool = False,
    sock: socket.socket | None = None,
) -> Iterator[str]:
    """Serve `app` with uvicorn on `port` (0: a free one); yields the base URL, stops on exit.

    The socket is bound before the thread starts, so the port is known and taken
    up front and there is no race for a "free" port number. With `lifespan`, the
    app's start-up has finished when this yields.
    """
    sock = sock or bind(host, port)
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app,
        lifespan="on" if lifespan else "off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-http-{port}", daemon=True
    )
    thread.start()
    try:
        _wait_until_started(server, thread)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        sock.close()


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("sandbox server thread exited during startup")
        if time.monotonic() > deadline:
            raise RuntimeError("sandbox server did not start in time")
        time.sleep(0.01)
