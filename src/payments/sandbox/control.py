"""`/_sandbox/...`: driving the sandbox from another process (browser tests, `payments demo`).

The same controls FakeStripe offers in Python, as JSON over HTTP. They take the
API's secret key, because they can complete payments: anyone who can reach the
port should not be able to mark orders paid without it. Errors use Stripe's
envelope so one client-side error path handles both these and /v1.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from payments import strict_json
from payments.sandbox import disputes, refunds
from payments.sandbox.api_keys import check_api_key
from payments.sandbox.buyer import (
    SCRIPTED_OUTCOMES,
    Buyer,
    PaymentRefused,
    ScriptedOutcome,
    SessionClosed,
)
from payments.sandbox.chaos import Chaos, ChaosSettings
from payments.sandbox.delivery import Deliverer, Drop
from payments.sandbox.errors import ApiError, invalid_request, missing_param, resource_missing
from payments.sandbox.faults import Faults
from payments.sandbox.store import RefundStatus, Store

Endpoint = Callable[[Request], Awaitable[Any]]


class Control:
    def __init__(
        self,
        store: Store,
        buyer: Buyer,
        chaos: ChaosSettings,
        deliverer: Deliverer,
        faults: Faults,
    ) -> None:
        self._store = store
        self._buyer = buyer
        self._chaos = chaos
        self._deliverer = deliverer
        self._faults = faults

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_sandbox/chaos", self._guarded(self._set_chaos), methods=["POST"]),
            Route("/_sandbox/deliveries", self._guarded(self._deliveries), methods=["GET"]),
            Route("/_sandbox/deliveries/drop", self._guarded(self._drop), methods=["POST"]),
            Route("/_sandbox/refund_status", self._guarded(self._refund_status), methods=["POST"]),
            Route("/_sandbox/refunds", self._guarded(self._dashboard_refund), methods=["POST"]),
            Route(
                "/_sandbox/refunds/{id}/settle",
                self._guarded(self._settle_refund),
                methods=["POST"],
            ),
            Route(
                "/_sandbox/refunds/{id}/fail", self._guarded(self._fail_refund), methods=["POST"]
            ),
            Route("/_sandbox/disputes", self._guarded(self._open_dispute), methods=["POST"]),
            Route("/_sandbox/disputes/{id}", self._guarded(self._update_dispute), methods=["POST"]),
            Route("/_sandbox/faults", self._guarded(self._fail_next), methods=["POST"]),
            Route("/_sandbox/sessions/{id}", self._guarded(self._session), methods=["GET"]),
            Route(
                "/_sandbox/sessions/{id}/complete",
                self._guarded(self._complete),
                methods=["POST"],
            ),
        ]

    def _guarded(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        """Authenticate like /v1 and answer errors in Stripe's envelope."""

        async def guarded(request: Request) -> Response:
            try:
                check_api_key(
                    request.headers.get("authorization", ""), livemode=self._store.livemode
                )
                return JSONResponse(await endpoint(request))
            except ApiError as error:
                return JSONResponse(error.envelope(), status_code=error.status)

        return guarded

    async def _set_chaos(self, request: Request) -> dict[str, Any]:
        body = await _json_object(request)
        session_id = body.pop("session_id", None)
        if session_id is not None:
            if not isinstance(session_id, str):
                raise invalid_request("session_id must be a string or null.", param="session_id")
            self._session_copy(session_id)  # 404 for a mistyped id, not a silent no-op
        try:
            chaos = Chaos.from_json(body)
        except (TypeError, ValueError) as error:
            raise invalid_request(str(error)) from error
        self._chaos.set(chaos, session_id)
        return {"session_id": session_id, "chaos": chaos.to_json()}

    async def _fail_next(self, request: Request) -> dict[str, Any]:
        """Stripe refusing or failing the next API calls, as `FakeStripe.fail_next` does:
        e.g. `{"status": 400, "type": "invalid_request_error", "code": "amount_too_small",
        "path_prefix": "/v1/checkout/sessions"}` for a checkout Stripe will not open."""
        body = await _json_object(request)
        unknown = set(body) - set(_FAULT_FIELDS)
        if unknown:
            raise invalid_request(
                f"Unknown field(s) {', '.join(sorted(unknown))}; "
                f"a fault takes {', '.join(_FAULT_FIELDS)}."
            )
        count = body.get("count", 1)
        status = body.get("status", 500)
        path = body.get("path_prefix", "/v1/")
        code = body.get("code")
        if not _whole(count) or count < 1:
            raise invalid_request("count must be a whole number, 1 or more.", param="count")
        if not _whole(status) or not 400 <= status <= 599:
            raise invalid_request(
                "status must be an HTTP error status, 400 to 599.", param="status"
            )
        error_type = body.get("type", "api_error" if status >= 500 else "invalid_request_error")
        if not isinstance(error_type, str) or error_type not in _ERROR_TYPES:
            raise invalid_request(f"type must be one of {', '.join(_ERROR_TYPES)}.", param="type")
        if code is not None and not isinstance(code, str):
            raise invalid_request("code must be a string or null.", param="code")
        if not isinstance(path, str) or not path.startswith("/v1/"):
            raise invalid_request(
                "path_prefix must be an API path prefix, such as /v1/refunds.", param="path_prefix"
            )
        self._faults.fail_next(
            count,
            status=status,
            path_prefix=path,
            error_type=error_type,
            code=code,
            should_retry=None,
        )
        return {
            "count": count,
            "status": status,
            "type": error_type,
            "code": code,
            "path_prefix": path,
        }

    async def _deliveries(self, request: Request) -> list[dict[str, Any]]:
        return [attempt.to_json() for attempt in self._deliverer.attempts()]

    async def _drop(self, request: Request) -> dict[str, Any]:
        """`{"count": 3}` drops the deliveries of the next 3 events, `{"count": "all"}` of
        every event from now on, `{"count": 0}` stops; the events are still recorded."""
        body = _fields(await _json_object(request), "count")
        raw: Any = body.get("count")
        if raw != "all" and (not _whole(raw) or raw < 0):
            raise invalid_request(
                'count must be a whole number, 0 or more, or "all".', param="count"
            )
        count: Drop = raw
        self._deliverer.drop(count)
        return {"dropping": self._deliverer.dropping}

    async def _refund_status(self, request: Request) -> dict[str, Any]:
        """`{"status": "pending"}`: refunds created from now on wait to be settled or failed;
        `"succeeded"` (the default) makes them succeed at once again."""
        body = _fields(await _json_object(request), "status")
        status = body.get("status")
        if status not in _REFUND_STATUSES:
            raise invalid_request(
                f"status must be one of {', '.join(_REFUND_STATUSES)}.", param="status"
            )
        chosen: RefundStatus = status
        with self._store.lock:
            self._store.new_refund_status = chosen
        return {"status": chosen}

    async def _dashboard_refund(self, request: Request) -> dict[str, Any]:
        """A refund made in the Dashboard: `{"payment_intent", "amount"?, "reason"?}`."""
        body = _fields(await _json_object(request), "payment_intent", "amount", "reason")
        return refunds.refund_in_dashboard(
            self._store,
            _required_str(body, "payment_intent"),
            amount=_optional_int(body, "amount"),
            reason=_optional_str(body, "reason"),
        )

    async def _settle_refund(self, request: Request) -> dict[str, Any]:
        _fields(await _json_object(request))
        return refunds.settle_refund(self._store, request.path_params["id"])

    async def _fail_refund(self, request: Request) -> dict[str, Any]:
        """`{"failure_reason"?}`, by default expired_or_canceled_card."""
        body = _fields(await _json_object(request), "failure_reason")
        reason = _optional_str(body, "failure_reason") or "expired_or_canceled_card"
        return refunds.fail_refund(self._store, request.path_params["id"], reason)

    async def _open_dispute(self, request: Request) -> dict[str, Any]:
        """`{"payment_intent", "reason"?, "amount"?}`: the buyer's bank disputes the payment."""
        body = _fields(await _json_object(request), "payment_intent", "reason", "amount")
        return disputes.open_dispute(
            self._store,
            _required_str(body, "payment_intent"),
            reason=_optional_str(body, "reason") or "fraudulent",
            amount=_optional_int(body, "amount"),
        )

    async def _update_dispute(self, request: Request) -> dict[str, Any]:
        """`{"status"}`: e.g. under_review, won, lost, warning_closed."""
        body = _fields(await _json_object(request), "status")
        status = _required_str(body, "status")
        return disputes.update_dispute(self._store, request.path_params["id"], status)

    async def _session(self, request: Request) -> dict[str, Any]:
        return self._session_copy(request.path_params["id"])

    async def _complete(self, request: Request) -> dict[str, Any]:
        session_id = request.path_params["id"]
        outcome = (await _json_object(request)).get("outcome")
        if outcome not in SCRIPTED_OUTCOMES:
            raise invalid_request(
                f"outcome must be one of {', '.join(SCRIPTED_OUTCOMES)}; got {outcome!r}.",
                param="outcome",
            )
        scripted: ScriptedOutcome = outcome
        try:
            return self._buyer.finish(session_id, scripted)
        except KeyError:
            raise resource_missing("checkout.session", session_id) from None
        except PaymentRefused as refused:  # e.g. "free" where promotion codes are not allowed
            raise invalid_request(refused.message, param="outcome") from None
        except SessionClosed:
            status = self._session_copy(session_id)["status"]
            raise invalid_request(
                f"Checkout Session {session_id} is {status}, not open; it cannot be completed."
            ) from None

    def _session_copy(self, session_id: str) -> dict[str, Any]:
        with self._store.lock:
            stored = self._store.lookup(session_id)
            if stored is None or stored.obj["object"] != "checkout.session":
                raise resource_missing("checkout.session", session_id)
            return copy.deepcopy(stored.obj)


_FAULT_FIELDS = ("count", "status", "type", "code", "path_prefix")
# The error types Stripe's API answers with (the SDK picks its exception by them).
_ERROR_TYPES = (
    "api_error",
    "card_error",
    "idempotency_error",
    "invalid_request_error",
    "rate_limit_error",
)


_REFUND_STATUSES: tuple[RefundStatus, ...] = ("succeeded", "pending")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fields(body: dict[str, Any], *allowed: str) -> dict[str, Any]:
    """The body, if it has no field but `allowed` (a typo is an error, not a default)."""
    unknown = set(body) - set(allowed)
    if unknown:
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
        raise invalid_request(f"Unknown field(s) {', '.join(sorted(unknown))}; {takes}.")
    return body


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid_request(f"{name} must be a string.", param=name)
    return value


def _required_str(body: dict[str, Any], name: str) -> str:
    value = _optional_str(body, name)
    if not value:
        raise missing_param(name)
    return value


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is not None and not _whole(value):
        raise invalid_request(f"{name} must be a whole number.", param=name)
    return value


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; anything else (malformed, NaN, nested a thousand levels
    deep) is a 400 in Stripe's envelope, never a crash."""
    raw = await request.body()
    try:
        body = strict_json.loads(raw) if raw else {}
    except strict_json.NotJson as exc:
        raise invalid_request(f"The request body must be JSON: the body {exc}.") from None
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    return body
