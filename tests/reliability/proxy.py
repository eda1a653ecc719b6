"""A TCP proxy between the service and Postgres, so a test can take the database away
without touching the shared server.

Three states: `restore()` passes every byte; `refuse()` is a database that is down
(open connections are reset, new ones are reset at once); `hang()` is a database that
stops answering (nothing is forwarded in either direction and new connections are
accepted and left waiting, as with a stalled server or a network partition). Like
TCP after a partition heals, bytes held during a hang are delivered once it ends.

It runs its own event loop in a thread, so it keeps forwarding while the test's loop
or thread is busy (a blocking wait for the service to start, for instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

CHUNK = 65536
THREAD_SECONDS = 10.0


class DatabaseProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="db-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()  # cleared while the database hangs
        self._refusing = False
        self._open: set[asyncio.StreamWriter] = set()  # both ends of every proxied connection
        self.port = 0

    # Control, from any thread

    def restore(self) -> None:
        """Forward again; whatever was held during a hang goes through now."""
        self._control(refusing=False, flowing=True)

    def refuse(self) -> None:
        """The database is down: reset every open connection and every new one."""
        self._control(refusing=True, flowing=True)

    def hang(self) -> None:
        """The database stops answering: hold every byte, accept connections and say nothing."""
        self._control(refusing=False, flowing=False)

    def _control(self, *, refusing: bool, flowing: bool) -> None:
        """Switch state on the proxy's own loop, and return once it has."""

        async def switch() -> None:
            self._refusing = refusing
            if flowing:
                self._flowing.set()
            else:
                self._flowing.clear()
            if refusing:
                for writer in list(self._open):
                    writer.transport.abort()

        asyncio.run_coroutine_threadsafe(switch(), self._loop).result(THREAD_SECONDS)

    # Lifecycle

    def __enter__(self) -> DatabaseProxy:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(
            THREAD_SECONDS
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(THREAD_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(THREAD_SECONDS)
        self._loop.close()

    async def _listen(self) -> int:
        self._flowing.set()
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Forwarding

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            await self._flowing.wait()  # a hanging database accepts and says nothing
            if self._refusing:
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            except OSError:
                return
            self._open.add(up_writer)
            try:
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                self._open.discard(up_writer)
                up_writer.transport.abort()
        finally:
            self._open.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction until EOF or a reset; the other direction is then closed too."""
        with contextlib.suppress(OSError):
            while True:
                await self._flowing.wait()
                data = await reader.read(CHUNK)
                if not data:
                    break
                await self._flowing.wait()  # read just before a hang: held until it ends
                if self._refusing:
                    break
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()
