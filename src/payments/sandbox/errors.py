"""Stripe's error envelope, raised by handlers and rendered by the app.

The SDK picks its exception class from the HTTP status and `error.type`
(see the wire notes, section 1), so every error here carries both on purpose.
"""

from __future__ import annotations

from typing import Any

DOC_URL = "https://stripe.com/docs/error-codes/{}"


class ApiError(Exception):
    """An answer in Stripe's `{"error": {...}}` envelope with a deliberate status."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        """The JSON body; optional keys are left out rather than sent as null, like Stripe."""
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = DOC_URL.format(self.code.replace("_", "-"))
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


class ChangeRefused(ValueError):
    """A FakeStripe method asked for something Stripe would not do (refund too much, move a
    closed dispute); `code` and `param` are those of the API error Stripe would answer."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.code = error.code
        self.param = error.param


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> ApiError:
    return ApiError(status, "invalid_request_error", message, code=code, param=param)


def missing_param(param: str) -> ApiError:
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


def resource_missing(
    object_name: str, object_id: str, *, param: str = "id", status: int = 404
) -> ApiError:
    """What Stripe answers for an id that does not exist on the requesting account."""
    return invalid_request(
        f"No such {object_name}: '{object_id}'",
        param=param,
        code="resource_missing",
        status=status,
    )


def authentication(message: str) -> ApiError:
    return ApiError(401, "authentication_error", message)


def unrecognized_url(method: str, path: str) -> ApiError:
    return invalid_request(f"Unrecognized request URL ({method}: {path}).", status=404)
