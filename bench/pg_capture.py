"""A TCP proxy in front of Postgres that records the statements a client runs.

`bench/explain.py` points `payments serve` at it, so the statements it EXPLAINs are
the ones the service really sent, whatever layer built them (SQLAlchemy, raw asyncpg):
nothing to keep in step by hand when the code changes. It reads only what the client
sends (the frontend messages of the PostgreSQL wire protocol) and forwards every byte
unchanged; it refuses TLS (answers 'N'), so the client goes on in plain text, as every
client does on a server without TLS.

While `recording`, it keeps:
- `executed`: the text of each statement executed (a Bind names its prepared
  statement; a simple Query carries its text), in order;
- `round_trips`: how many times the client waited for the server (each Sync or
  simple Query), what a statement costs on top of its own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_INT32 = struct.Struct("!i")


@contextmanager
def capturing(upstream_host: str, upstream_port: int) -> Iterator[Capture]:
    """A proxy to the server at host:port (host may be a socket directory), on a loop of
    its own in a thread, so the caller may block; `Capture.port` is where it listens."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="pg-capture", daemon=True)
    thread.start()
    capture = Capture(upstream_host, upstream_port)
    try:
        capture.port = asyncio.run_coroutine_threadsafe(capture.start(), loop).result(10)
        yield capture
    finally:
        asyncio.run_coroutine_threadsafe(capture.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@dataclass
class Capture:
    upstream_host: str
    upstream_port: int
    recording: bool = False
    executed: list[str] = field(default_factory=list)
    round_trips: int = 0
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on a free local port; returns it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def take(self) -> tuple[list[str], int]:
        """What was recorded since the last call, and start afresh."""
        executed, trips = self.executed, self.round_trips
        self.executed, self.round_trips = [], 0
        return executed, trips

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.upstream_host.startswith("/"):  # a socket directory
            path = f"{self.upstream_host}/.s.PGSQL.{self.upstream_port}"
            server_r, server_w = await asyncio.open_unix_connection(path)
        else:
            server_r, server_w = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        backwards = asyncio.create_task(_pump(server_r, client_w))
        try:
            await self._client_to_server(client_r, client_w, server_w)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            server_w.close()
            with contextlib.suppress(Exception):
                await backwards

    async def _client_to_server(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        server_w: asyncio.StreamWriter,
    ) -> None:
        # Start-up: untyped messages; refuse TLS/GSS so the rest is readable.
        while True:
            head = await client_r.readexactly(4)
            body = await client_r.readexactly(_INT32.unpack(head)[0] - 4)
            if _INT32.unpack(body[:4])[0] in (_SSL_REQUEST, _GSSENC_REQUEST):
                client_w.write(b"N")
                await client_w.drain()
                continue
            server_w.write(head + body)
            break
        prepared: dict[bytes, str] = {}  # this connection's statements, by name
        while True:
            head = await client_r.readexactly(5)
            body = await client_r.readexactly(_INT32.unpack(head[1:])[0] - 4)
            server_w.write(head + body)
            kind = head[:1]
            if kind == b"P":  # Parse: name, query
                name, query = body.split(b"\0", 2)[:2]
                prepared[name] = query.decode()
            elif kind == b"B" and self.recording:  # Bind: portal, statement name
                name = body.split(b"\0", 2)[1]
                self.executed.append(prepared.get(name, "?"))
            elif kind == b"S" and self.recording:  # Sync: the client waits
                self.round_trips += 1
            elif kind == b"Q" and self.recording:  # a simple Query
                self.executed.append(body.rstrip(b"\0").decode())
                self.round_trips += 1
            elif kind == b"X":  # Terminate
                await server_w.drain()
                return
            await server_w.drain()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
