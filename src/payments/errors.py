"""Errors the API answers with: a status code and a stable machine-readable code.

Every error body is `{"error": {"code": ..., "message": ...}}`, whatever raised it:
our own errors, the framework's (unknown route, wrong method, invalid input) and
anything unexpected (a 500). Clients branch on `code`, never on the message; the
message is for people. Each route lists the codes it can answer with
`responses(...)`, so the OpenAPI schema is the truth. `install_error_handlers` is
the one place that turns exceptions into answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payments.head import allowed_methods

log = structlog.get_logger(__name__)


class PaymentsError(Exception):
    status_code = 400
    code = "bad_request"
    description = "the request cannot be served"  # for the OpenAPI schema

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class InvalidJson(PaymentsError):
    code = "invalid_json"
    description = "the body is not JSON: not UTF-8, malformed, or nested too deeply"


class InvalidWebhook(PaymentsError):
    code = "invalid_webhook"
    description = "a missing, wrong or stale signature, or a body that is not an event"


class Unauthorized(PaymentsError):
    status_code = 401
    code = "unauthorized"
    description = "missing or wrong admin key"


class NotFound(PaymentsError):
    status_code = 404
    code = "not_found"
    description = "no such resource"


class MethodNotAllowed(PaymentsError):
    status_code = 405
    code = "method_not_allowed"
    description = "the path exists, not with this method (see `Allow`)"


class Conflict(PaymentsError):
    status_code = 409
    code = "conflict"
    description = "the request conflicts with the current state"


class SellerExists(Conflict):
    code = "seller_exists"
    description = "a seller with this Stripe account exists"


class OutOfStock(Conflict):
    code = "out_of_stock"
    description = "a quantity is above the current stock"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    description = "a request with this key is being processed; retry"


class OrderNotRefundable(Conflict):
    code = "order_not_refundable"
    description = (
        "the order has no payment to refund: never paid, free, or a payment its rules "
        "refused (refund that one in the Dashboard)"
    )


class OrderDisputed(Conflict):
    code = "order_disputed"
    description = (
        "the order's payment is under an open dispute (chargeback): Stripe refuses to "
        "refund it until the dispute closes"
    )


class RefundExceedsRemaining(Conflict):
    code = "refund_exceeds_remaining"
    description = "the amount is more than what remains refundable (paid minus refunded)"


class DeliveryNotDead(Conflict):
    code = "delivery_not_dead"
    description = (
        "only a dead delivery can be retried; a pending or failed one is still being "
        "tried, and a succeeded one was delivered"
    )


class EndpointNotLive(Conflict):
    code = "endpoint_not_live"
    description = "the delivery's endpoint is deleted, or disabled (enable it first)"


class PayloadTooLarge(PaymentsError):
    status_code = 413
    code = "payload_too_large"
    description = "the body is over the size limit"


class UnsupportedMediaType(PaymentsError):
    status_code = 415
    code = "unsupported_media_type"
    description = "the body is not sent as `Content-Type: application/json`"


class InvalidRequest(PaymentsError):
    status_code = 422
    code = "invalid_request"
    description = "a field, parameter or header is missing or malformed; the message says which"


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"
    description = "the key was used for a different body"


class UnknownProduct(InvalidRequest):
    code = "unknown_product"
    description = "a product id is not in the catalog"


class UnknownSeller(InvalidRequest):
    code = "unknown_seller"
    description = "the seller id is not a seller"


class MixedSellers(InvalidRequest):
    code = "mixed_sellers"
    description = "the cart holds products of more than one seller"


class MixedCurrencies(InvalidRequest):
    code = "mixed_currencies"
    description = "the cart holds products in more than one currency"


class AmountTooLarge(InvalidRequest):
    code = "amount_too_large"
    description = "the total is above what Stripe takes (99,999,999 minor units)"


class InvalidEndpointUrl(InvalidRequest):
    code = "invalid_endpoint_url"
    description = (
        "an endpoint URL must be https to a public address (http, and private or loopback "
        "addresses, only with MERCHANT_WEBHOOKS_ALLOW_PRIVATE=true), without credentials"
    )


class CheckoutRefused(PaymentsError):
    """The payment provider refused this order for good; the order is failed.

    422, not 502: the same request can never succeed (Stripe answers the same key the
    same way), and clients, proxies and SDKs retry a 502 but not a 4xx.
    """

    status_code = 422
    code = "provider_rejected"
    description = (
        "Stripe refused this order for good (e.g. an amount below its minimum charge, or a "
        "currency it does not take); the order is failed and retrying will not help"
    )


class InternalError(PaymentsError):
    status_code = 500
    code = "internal_error"
    description = "a bug on our side; it was logged with the request id"


class ProviderError(PaymentsError):
    """The payment provider failed or timed out; the request can be retried."""

    status_code = 502
    code = "provider_error"
    description = "Stripe failed, timed out or refused the call; retry"


class ServiceUnavailable(PaymentsError):
    status_code = 503
    code = "service_unavailable"
    description = "the database is unavailable; retry later"


# Every route that reads a JSON body can answer these before it runs.
JSON_BODY_ERRORS: tuple[type[PaymentsError], ...] = (
    InvalidJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    InvalidRequest,
)


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached or stopped answering: an outage, so the caller
    retries (Stripe retries a 503 for days). Nothing was committed. Raised by `Database`;
    a statement the database rejects is a bug and stays a 500."""

    def __init__(self) -> None:
        super().__init__("the database is unavailable; retry later", headers={"Retry-After": "5"})


class RefundsInFlight(ServiceUnavailable):
    """A refund made elsewhere does not fit beside refunds of ours the provider is still
    answering: one of them will fail. Nothing was committed; the provider retries the event
    (or the next reconciliation sees it) once ours are answered."""

    def __init__(self) -> None:
        super().__init__(
            "refunds of this order are being sent to the provider; retry",
            headers={"Retry-After": "30"},
        )


class DatabaseBusy(ServiceUnavailable):
    """The database undid the request's transaction to break a deadlock or a serialization
    conflict with a concurrent one (SQLSTATE class 40): nothing was committed and the same
    request, retried, goes through."""

    def __init__(self) -> None:
        super().__init__(
            "the request met a concurrent one in the database and was undone; retry",
            headers={"Retry-After": "1"},
        )


def responses(*errors: type[PaymentsError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each status with the exact codes it can carry.

    A 500 (`internal_error`) is possible anywhere and is always listed.
    """
    by_status: dict[int, dict[str, str]] = {}
    listed: tuple[type[PaymentsError], ...] = (*errors, InternalError)
    for error in listed:
        by_status.setdefault(error.status_code, {})[error.code] = error.description
    return {
        status: {
            "description": "; ".join(f"`{code}`: {text}" for code, text in codes.items()),
            "content": {"application/json": {"schema": _error_schema(list(codes))}},
        }
        for status, codes in sorted(by_status.items())
    }


def _error_schema(codes: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": list(codes)},
                    "message": {"type": "string", "description": "for people, not programs"},
                },
            }
        },
    }


def _body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(error: PaymentsError) -> JSONResponse:
    return JSONResponse(
        _body(error.code, error.message), status_code=error.status_code, headers=error.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Answer every exception in the one error shape. Call it before adding the
    request-id middleware, so that a 500 still carries the request id."""

    @app.exception_handler(PaymentsError)
    async def _payments_error(_request: Request, exc: PaymentsError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_describe(error) for error in exc.errors()]
        return error_response(InvalidRequest("; ".join(problems)))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(_from_http_exception(request, exc))

    @app.exception_handler(DBAPIError)
    async def _database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        # Outages reach here as DatabaseUnavailable (503, see db.py). A statement the
        # database rejects is a bug: log its SQLSTATE and let it surface as a 500.
        log_database_error(exc)
        raise exc

    app.add_middleware(_InternalErrors)


class _InternalErrors:
    """Anything no handler took: logged with its traceback, answered as a JSON 500.

    (Starlette's own last-resort handler answers plain text, outside the request id.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            log.exception("request.failed", method=scope["method"], path=scope["path"])
            if started:
                raise  # too late for an answer: the server closes the connection
            answer = InternalError("something went wrong on our side; it has been logged")
            await error_response(answer)(scope, receive, send)


def _from_http_exception(request: Request, exc: HTTPException) -> PaymentsError:
    """The framework's own errors (routing, mostly) as ours."""
    where = f"{request.method} {shown_path(request.url.path)}"
    if exc.status_code == 404:
        return NotFound(f"no such route: {where}")
    if exc.status_code == 405:
        allowed = allowed_methods(_methods_of_path(request, (exc.headers or {}).get("Allow", "")))
        headers = {**(exc.headers or {}), "Allow": allowed}
        return MethodNotAllowed(f"{where} is not allowed; use {allowed}", headers=headers)
    error = PaymentsError(str(exc.detail), headers=exc.headers)
    error.status_code = exc.status_code
    error.code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    return error


def _methods_of_path(request: Request, allow: str) -> str:
    """Every method some route takes at this path: Starlette's 405 names only the first
    route's (GET and POST at one path are two routes)."""
    methods = [method.strip() for method in allow.split(",") if method.strip()]
    for route in iter_route_contexts(request.app.router.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.scope["path"]):
            methods += [m for m in sorted(route.methods or ()) if m not in methods]
    return ", ".join(methods)


# Everything in a URL path that is safe to show as it is; the rest is percent-encoded.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def shown_path(path: str, limit: int = 100) -> str:
    """A path a client sent, fit to quote in a message: percent-encoded as in a URL (so a
    NUL, a newline or a lone surrogate shows as `%00`, `%0A`, `%ED%A0%80`), and cut short."""
    encoded = quote(path, safe=_PATH_SAFE, errors="surrogatepass")
    return encoded if len(encoded) <= limit else encoded[:limit] + "..."


def shown(text: str, limit: int = 40) -> str:
    """Other text a client sent (a JSON key), fit to quote in a message: characters that do
    not print (controls, lone surrogates) as `\\uXXXX`, and cut short."""
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text[:limit])
    return escaped if len(text) <= limit else escaped + "..."


# pydantic's messages in the service's words, for every error type a client can cause
# (tests/test_errors.py sends each route what causes them). `{...}` is filled from the
# error's context, e.g. the bound that was crossed.
_PLAIN_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "model_attributes_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "string_type": "must be a string",
    "string_unicode": "must be text without unpaired surrogates (\\ud800 to \\udfff)",
    "string_too_short": "must be {min_length} characters or more",
    "string_too_long": "must be {max_length} characters or fewer",
    "string_pattern_mismatch": "has the wrong format",
    "too_short": "must have {min_length} or more items",
    "too_long": "must have {max_length} or fewer items",
    "uuid_parsing": "must be a UUID, such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "uuid_type": "must be a UUID, such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "greater_than_equal": "must be {ge} or more",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be {le} or less",
    "less_than": "must be less than {lt}",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "enum": "must be {expected}",
    "literal_error": "must be {expected}",
    "value_error": "is not a valid {name}: {reason}",  # email-validator's reason, in words
}
# Our own types (payments.inputs) already speak plainly.
_OWN_MESSAGES = frozenset({"plain_text", "blank_text", "text_pattern", "currency"})
_LOCATIONS = {"query": "query parameter ", "header": "header ", "path": "path parameter "}


def _describe(error: Any) -> str:
    """`items[0].quantity: must be a whole number`, from one pydantic error."""
    kind, *parts = error["loc"]
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{shown(part)}" for part in parts)
    if kind == "body":
        where = path.removeprefix(".") or "the body"
    else:
        where = _LOCATIONS.get(str(kind), f"{kind} ") + path.removeprefix(".")
    if error["type"] == "missing" and where == "the body":
        return "a JSON body is required"
    return f"{where}: {_message(error)}"


def _message(error: Any) -> str:
    kind = error["type"]
    template = _PLAIN_MESSAGES.get(kind)
    if template is not None:
        try:
            return template.format(**error.get("ctx", {}))
        except (KeyError, IndexError):
            pass  # a context this template does not know: pydantic's own message
    elif kind not in _OWN_MESSAGES:
        log.warning("validation.unmapped_error", type=kind)  # add it to _PLAIN_MESSAGES
    return str(error["msg"]).removeprefix("Value error, ")


def log_database_error(exc: Exception) -> None:
    """A statement the database rejected (through SQLAlchemy or asyncpg): its SQLSTATE."""
    log.error("database.error", error=type(exc).__name__, sqlstate=_sqlstate(exc))


def _sqlstate(exc: Exception) -> str | None:
    sqlstate = getattr(getattr(exc, "orig", exc), "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else None
