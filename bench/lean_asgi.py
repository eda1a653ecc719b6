"""D, the HTTP limit: the leanest honest webhook handler, a plain ASGI app.

    BENCH_DATABASE_URL=postgresql://... python -m uvicorn bench.lean_asgi:app

No framework: read the body, check the signature with the SDK's
`stripe.WebhookSignature.verify_header` (against the endpoint's secret), parse the JSON,
and run the one statement (bench/one_statement.py) on an asyncpg pool sized for the
bench's concurrency. It answers 200 only once the statement committed, 400 for a bad
signature or body, like the service. It handles only what the bench sends (a paid
`checkout.session.completed`); anything else is answered 200 "ignored" where the
service would take its general path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg
import stripe

from bench.one_statement import SQL, outcome, paid_from_event

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TOLERANCE_SECONDS = 300
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "32"))
# path -> (endpoint, secret)
ENDPOINTS = {
    "/webhooks/stripe": ("platform", os.environ.get("STRIPE_WEBHOOK_SECRET", "")),
    "/webhooks/stripe/connect": ("connect", os.environ.get("STRIPE_CONNECT_WEBHOOK_SECRET", "")),
}

# The pool, made at start-up (lifespan), one per process.
_state: dict[str, asyncpg.Pool] = {}


async def _respond(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _is_paid_completion(event: dict[str, Any], endpoint: str) -> bool:
    session = event["data"]["object"]
    on_right_endpoint = (endpoint == "connect") == bool(event.get("account"))
    return (
        on_right_endpoint
        and event["type"] == "checkout.session.completed"
        and session.get("mode") == "payment"
        and session.get("status") == "complete"
        and session.get("payment_status") == "paid"
    )


async def _webhook(scope: Scope, receive: Receive, send: Send) -> None:
    endpoint, secret = ENDPOINTS[scope["path"]]
    body = await _read_body(receive)
    header = dict(scope["headers"]).get(b"stripe-signature", b"").decode("latin-1")
    try:
        stripe.WebhookSignature.verify_header(body.decode(), header, secret, TOLERANCE_SECONDS)
        event = json.loads(body)
        paid = _is_paid_completion(event, endpoint)
    except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError) as exc:
        await _respond(send, 400, {"error": type(exc).__name__})
        return
    if not paid:
        await _respond(send, 200, {"received": True, "outcome": "ignored"})
        return
    row = await _state["pool"].fetchrow(SQL, *paid_from_event(event, endpoint).args())
    result = outcome(row)
    await _respond(send, 500 if result == "out_of_stock" else 200, {"outcome": result})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _state["pool"] = await asyncpg.create_pool(
                os.environ["BENCH_DATABASE_URL"], min_size=POOL_SIZE, max_size=POOL_SIZE
            )
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if "pool" in _state:
                await _state.pop("pool").close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["path"] in ENDPOINTS and scope["method"] == "POST":
        await _webhook(scope, receive, send)
    elif scope["path"] == "/readyz":
        await _respond(send, 200, {"status": "ready"})
    else:
        await _respond(send, 404, {"error": "not_found"})
