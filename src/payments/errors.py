"""Errors the API answers with: a status code and a stable machine-readable code.

Every error body is `{"error": {"code": ..., "message": ...}}`; clients branch on
`code`, never on the message.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

log = structlog.get_logger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class PaymentsError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers


class NotFound(PaymentsError):
    status_code = 404
    code = "not_found"


class Unauthorized(PaymentsError):
    status_code = 401
    code = "unauthorized"


class Conflict(PaymentsError):
    status_code = 409
    code = "conflict"


class OutOfStock(Conflict):
    code = "out_of_stock"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"


class InvalidRequest(PaymentsError):
    status_code = 422
    code = "invalid_request"


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"


class UnknownProduct(InvalidRequest):
    code = "unknown_product"


class MixedSellers(InvalidRequest):
    code = "mixed_sellers"


class MixedCurrencies(InvalidRequest):
    code = "mixed_currencies"


class AmountTooLarge(InvalidRequest):
    code = "amount_too_large"


class PayloadTooLarge(PaymentsError):
    status_code = 413
    code = "payload_too_large"


class InvalidWebhook(PaymentsError):
    status_code = 400
    code = "invalid_webhook"


class ProviderError(PaymentsError):
    """The payment provider failed or timed out; the request can be retried."""

    status_code = 502
    code = "provider_error"


class ServiceUnavailable(PaymentsError):
    status_code = 503
    code = "service_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached or stopped answering: an outage, so the caller
    retries (Stripe retries a 503 for days). Nothing was committed. Raised by `Database`;
    a statement the database rejects is a bug and stays a 500."""

    def __init__(self) -> None:
        super().__init__("the database is unavailable; retry later", headers={"Retry-After": "5"})


def responses(*errors: type[PaymentsError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route, so the schema shows what it can answer."""
    table: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = table.setdefault(error.status_code, {"model": ErrorResponse, "description": ""})
        entry["description"] = ", ".join(filter(None, [entry["description"], error.code]))
    return table


def _body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PaymentsError)
    async def _payments_error(_request: Request, exc: PaymentsError) -> JSONResponse:
        return JSONResponse(
            _body(exc.code, exc.message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"] if part != "body")
            problems.append(f"{where}: {err['msg']}" if where else err["msg"])
        return JSONResponse(_body("invalid_request", "; ".join(problems)), status_code=422)

    @app.exception_handler(DBAPIError)
    async def _database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        # Outages reach here as DatabaseUnavailable (503, see db.py). A statement the
        # database rejects is a bug: log its SQLSTATE and let it surface as a 500.
        log.error("database.error", error=type(exc).__name__, sqlstate=_sqlstate(exc))
        raise exc


def _sqlstate(exc: DBAPIError) -> str | None:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else None
