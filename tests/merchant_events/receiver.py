"""A shop's webhook receiver: a small HTTP/1.1 server on 127.0.0.1, in the test's event loop.

It records each request, answers the status codes it is told to in the order requests
arrive (then 200), can redirect, and can hold a request unanswered until the test
releases it. A connection that sends nothing (a connect-time probe) is not a request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.redirect_to: str | None = None
        self._statuses: deque[int] = deque()
        self._holds: deque[asyncio.Event] = deque()
        self._gates: list[asyncio.Event] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def answer(self, *statuses: int) -> None:
        """The next requests are answered with these codes, in order; then 200."""
        self._statuses.extend(statuses)

    def hold_next(self) -> asyncio.Event:
        """The next request is recorded but answered only once the event is set."""
        gate = asyncio.Event()
        self._holds.append(gate)
        self._gates.append(gate)
        return gate

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        for gate in self._gates:
            gate.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, value = header.decode("latin-1").split(":", 1)
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = self._statuses.popleft() if self._statuses else 200
            gate = self._holds.popleft() if self._holds else None
            self.requests.append(Request(method, path, headers, body))
            if gate is not None:
                await gate.wait()
            location = f"Location: {self.redirect_to}\r\n" if self.redirect_to else ""
            writer.write(
                f"HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\n{location}"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
