"""The load generator: raw HTTP/1.1 over asyncio streams, in a process of its own.

    python -m bench.load REQUESTS_FILE --port 8000 [--concurrency 32] [--rate 100]

It sends prepared requests (whole HTTP/1.1 messages, written by `write_requests`)
over `--concurrency` keep-alive connections and prints one JSON `PassResult`.

- Closed loop (default): each connection sends the next unsent request as soon as its
  previous answer arrived, so at most `concurrency` requests are in flight. Latency is
  from writing the request to reading the whole answer.
- Open loop (`--rate`): request i is due at start + i/rate whether or not earlier ones
  were answered; latency is measured from that scheduled time, so time spent waiting
  for a free connection counts (no coordinated omission).

An httpx client tops out at a few hundred requests/s on this machine, well below what
the fastest parts need; this one reads only the status line and Content-Length.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import struct
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from bench.stats import MachineClock, summarize

_LENGTH = struct.Struct("!I")


def write_requests(path: Path, requests: list[bytes]) -> None:
    """Store whole HTTP requests for the generator, each prefixed by its length."""
    with path.open("wb") as out:
        for request in requests:
            out.write(_LENGTH.pack(len(request)))
            out.write(request)


def read_requests(path: Path) -> list[bytes]:
    data = path.read_bytes()
    requests, offset = [], 0
    while offset < len(data):
        (size,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        requests.append(data[offset : offset + size])
        offset += size
    return requests


def http_request(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """One HTTP/1.1 request message, keep-alive, with Content-Length."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status code and body of one response (Content-Length framing, as uvicorn sends)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    start = lowered.find(b"\r\ncontent-length:")
    if start < 0:
        raise ValueError(f"response without Content-Length: {head[:200]!r}")
    end = lowered.index(b"\r\n", start + 2)
    length = int(lowered[start + len(b"\r\ncontent-length:") : end])
    body = await reader.readexactly(length) if length else b""
    return status, body


class _Pass:
    """Shared state of one pass: which request is next, and what came back."""

    def __init__(self, requests: list[bytes], rate: float | None) -> None:
        self.requests = requests
        self.rate = rate
        self.latencies: list[float] = []
        self.outcomes: Counter[str] = Counter()
        self.failures: list[str] = []
        self._next: Iterator[int] = itertools.count()
        self.start = 0.0

    def take(self) -> int | None:
        i = next(self._next)  # one event loop: no lock needed
        return i if i < len(self.requests) else None

    def due(self, i: int) -> float | None:
        return None if self.rate is None else self.start + i / self.rate

    def record(self, status: str, began: float, body: bytes = b"") -> None:
        self.latencies.append(time.perf_counter() - began)
        self.outcomes[status] += 1
        if not status.startswith("2") and len(self.failures) < 5:
            self.failures.append(f"{status}: {body[:300].decode(errors='replace')}")


async def _connection(
    host: str, port: int, work: _Pass, opened: asyncio.Event, go: asyncio.Event
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    opened.set()
    await go.wait()
    try:
        while (i := work.take()) is not None:
            due = work.due(i)
            if due is not None:
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            began = due if due is not None else time.perf_counter()
            try:
                writer.write(work.requests[i])
                status, body = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                work.record("connection_error", began, repr(exc).encode())
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            work.record(str(status), began, body)
    finally:
        writer.close()


async def run_pass(
    requests: list[bytes], host: str, port: int, concurrency: int, rate: float | None
) -> dict[str, object]:
    """Send every request once; returns the PassResult as JSON."""
    work = _Pass(requests, rate)
    go = asyncio.Event()
    opened = [asyncio.Event() for _ in range(concurrency)]
    tasks = [
        asyncio.create_task(_connection(host, port, work, opened[n], go))
        for n in range(concurrency)
    ]
    # Connections are opened before the clock starts: connecting is not what is measured.
    await asyncio.gather(*(event.wait() for event in opened))
    work.start = time.perf_counter()
    machine = MachineClock()
    go.set()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - work.start
    busy = machine.busy_percent()
    return summarize(work.latencies, seconds, dict(work.outcomes), work.failures, busy).to_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("requests", type=Path, help="file written by write_requests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, help="open loop: requests per second")
    args = parser.parse_args(argv)
    requests = read_requests(args.requests)
    coro = run_pass(requests, args.host, args.port, args.concurrency, args.rate)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
