"""The shop's endpoint for part E: the leanest receiver, counting what it is sent.

It answers 204 to every POST without reading more than the request, in a thread of the
bench's own process, so that what E measures is the service writing and sending events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from payments.merchant_events import signing


class ShopReceiver:
    def __init__(self) -> None:
        self.webhook_ids: Counter[str] = Counter()
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if line
                )
                lower = {name.lower(): value for name, value in headers.items()}
                await reader.readexactly(int(lower.get("content-length", "0")))
                self.webhook_ids[lower.get("webhook-id", "")] += 1
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextmanager
def running() -> Iterator[ShopReceiver]:
    receiver = ShopReceiver()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def main() -> None:
        server = await asyncio.start_server(receiver._serve, "127.0.0.1", 0)
        receiver.port = server.sockets[0].getsockname()[1]
        started.set()
        async with server:
            await server.serve_forever()

    def serve() -> None:
        with contextlib.suppress(RuntimeError):  # the loop stopped under serve_forever: done
            loop.run_until_complete(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield receiver
    finally:
        loop.call_soon_threadsafe(loop.stop)


async def register(conn: asyncpg.Connection, receiver: ShopReceiver) -> None:
    """One endpoint taking every event, as `POST /admin/webhook-endpoints` writes it."""
    await conn.execute(
        "INSERT INTO webhook_endpoints (id, url, events, secret) VALUES ($1, $2, $3, $4)",
        uuid.uuid4(),
        f"http://127.0.0.1:{receiver.port}/events",
        json.dumps(["*"]),
        signing.new_secret(),
    )
