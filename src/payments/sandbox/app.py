"""The ASGI app: what every request goes through before and after its handler.

Order per API request: record it, apply an injected failure, authenticate, route,
claim or replay the idempotency key, apply an injected delay, run the handler.
The hosted checkout page and the /_sandbox controls are routed before the API and
are neither recorded nor subject to injected faults: they are not Stripe's API.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from payments.sandbox import routes
from payments.sandbox.api_keys import check_api_key
from payments.sandbox.errors import ApiError, unrecognized_url
from payments.sandbox.expand import expand
from payments.sandbox.faults import Faults
from payments.sandbox.forms import parse_form
from payments.sandbox.idempotency import IdempotencyKeys
from payments.sandbox.ids import request_id
from payments.sandbox.params import as_list
from payments.sandbox.recording import RecordedRequest, RequestLog
from payments.sandbox.store import Store

log = structlog.get_logger(__name__)

Answer = tuple[int, dict[str, Any], dict[str, str]]
"""(status, JSON body, extra response headers)."""


def create_app(
    store: Store,
    *,
    keys: IdempotencyKeys,
    faults: Faults,
    requests: RequestLog,
    pages: Sequence[BaseRoute] = (),
    public_url: str | None = None,
) -> Starlette:
    """The API behind its catch-all route; `pages` (hosted checkout, /_sandbox) match first.

    `public_url` is the base for session URLs when browsers reach the sandbox at
    another address than the SDK does; by default the request's own base URL.
    """
    api = _Api(store, keys, faults, requests, public_url)
    catch_all = Route("/{path:path}", api.handle, methods=["GET", "POST", "DELETE"])
    return Starlette(
        routes=[*pages, catch_all],
        # Whatever a handler lets escape still answers in Stripe's envelope, never
        # Starlette's plain text, so that the SDK raises its usual error classes.
        exception_handlers={HTTPException: _http_error, Exception: _crash},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """The router's own errors (a method a page does not take) as Stripe answers them: an
    unrecognized URL."""
    status = exc.status_code if isinstance(exc, HTTPException) else 400
    error = (
        unrecognized_url(request.method, request.url.path)
        if status in (404, 405)
        else ApiError(status, "invalid_request_error", str(getattr(exc, "detail", exc)))
    )
    return JSONResponse(error.envelope(), status_code=error.status)


async def _crash(request: Request, exc: Exception) -> Response:
    """A bug in the sandbox: Stripe's envelope for its own failures (the SDK's APIError)."""
    log.error(
        "sandbox.stripe.crashed",
        method=request.method,
        path=request.url.path,
        error=type(exc).__name__,
    )
    error = ApiError(500, "api_error", "The Stripe sandbox failed to handle the request.")
    return JSONResponse(error.envelope(), status_code=error.status)


class _Api:
    def __init__(
        self,
        store: Store,
        keys: IdempotencyKeys,
        faults: Faults,
        requests: RequestLog,
        public_url: str | None,
    ) -> None:
        self.store = store
        self.keys = keys
        self.faults = faults
        self.requests = requests
        self.public_url = public_url.rstrip("/") if public_url else None

    async def handle(self, request: Request) -> Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = (await request.body()).decode("utf-8", errors="replace")
        malformed: ApiError | None = None
        try:
            query, form = parse_form(request.url.query), parse_form(body)
        except ApiError as error:  # recorded with no params, answered after auth like Stripe
            query, form, malformed = {}, {}, error
        entry = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=query,
            form=form,
            headers=headers,
            account=headers.get("stripe-account"),
            idempotency_key=headers.get("idempotency-key"),
        )
        self.requests.start(entry)
        rid = request_id()
        try:
            status, payload, extra = await self._answer(request, entry, rid, malformed)
        except ApiError as error:
            status, payload, extra = error.status, error.envelope(), error.headers
        except Exception:
            log.exception("sandbox.stripe.handler_failed", method=entry.method, path=entry.path)
            crash = ApiError(500, "api_error", "The Stripe sandbox failed to handle the request.")
            status, payload, extra = crash.status, crash.envelope(), {}
        self.requests.finish(entry, status)
        response_headers = {"Request-Id": rid, **extra}
        if entry.idempotency_key is not None:
            response_headers["Idempotency-Key"] = entry.idempotency_key
        return JSONResponse(payload, status_code=status, headers=response_headers)

    async def _answer(
        self, request: Request, entry: RecordedRequest, rid: str, malformed: ApiError | None
    ) -> Answer:
        failure = self.faults.take_failure(entry.path)
        if failure is not None:
            raise failure
        delay = self.faults.take_delay(entry.path)
        check_api_key(entry.headers.get("authorization", ""), livemode=self.store.livemode)
        if malformed is not None:
            raise malformed
        found = routes.match(entry.method, entry.path)
        if found is None:
            raise unrecognized_url(entry.method, entry.path)
        handler, path_params = found
        call = routes.Call(
            method=entry.method,
            path=entry.path,
            params=entry.form if entry.method == "POST" else entry.query,
            account=entry.account,
            base_url=self.public_url or str(request.base_url).rstrip("/"),
            request_id=rid,
            idempotency_key=entry.idempotency_key,
            path_params=path_params,
        )
        key = call.idempotency_key
        if call.method != "POST" or key is None:
            await _sleep(delay)
            return 200, self._run(handler, call), {}
        endpoint = f"{call.method} {call.path}"
        saved = self.keys.begin(call.account, key, endpoint, call.params)
        if saved is not None:
            await _sleep(delay)
            return saved.status, copy.deepcopy(saved.body), {"Idempotent-Replayed": "true"}
        # Shielded: a client that times out during the delay does not undo the request,
        # just as a real Stripe request keeps going after the caller hangs up.
        return await asyncio.shield(self._run_claimed(handler, call, key, endpoint, delay))

    async def _run_claimed(
        self, handler: routes.Handler, call: routes.Call, key: str, endpoint: str, delay: float
    ) -> Answer:
        try:
            await _sleep(delay)
            body = self._run(handler, call)
        except BaseException:
            self.keys.release(call.account, key)
            raise
        self.keys.save(call.account, key, endpoint, call.params, 200, body)
        return 200, body, {}

    def _run(self, handler: routes.Handler, call: routes.Call) -> dict[str, Any]:
        """Run under the store lock and copy the result, so later changes cannot leak in."""
        with self.store.lock:
            body = copy.deepcopy(handler(self.store, call))
            expand(self.store, body, as_list(call.params.get("expand"), "expand"), call.account)
        return body


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
