"""The Stripe v1 endpoints the sandbox implements, each a small synchronous handler.

Handlers run with the parsed request (`Call`) and return the JSON object for a
200 answer, or raise `ApiError`. Auth, idempotency, faults and recording happen
around them in `app.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from payments.sandbox import checkout, disputes, events, refunds
from payments.sandbox.store import Account, Store


@dataclass(frozen=True)
class Call:
    """An authenticated API request, as the handlers see it."""

    method: str
    path: str
    params: dict[str, Any]
    account: Account
    base_url: str
    request_id: str
    idempotency_key: str | None
    path_params: dict[str, str]


Handler = Callable[[Store, Call], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def match(method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
    for route in ROUTES:
        found = route.pattern.fullmatch(path)
        if found is not None and route.method == method:
            return route.handler, found.groupdict()
    return None


def _create_session(store: Store, call: Call) -> dict[str, Any]:
    return checkout.create_session(store, call.params, account=call.account, base_url=call.base_url)


def _expire_session(store: Store, call: Call) -> dict[str, Any]:
    return checkout.expire(
        store,
        call.path_params["id"],
        call.account,
        request=(call.request_id, call.idempotency_key),
    )


def _create_refund(store: Store, call: Call) -> dict[str, Any]:
    return refunds.create_refund(
        store, call.params, account=call.account, request=(call.request_id, call.idempotency_key)
    )


def _list_refunds(store: Store, call: Call) -> dict[str, Any]:
    return refunds.list_refunds(store, call.params, call.account)


def _list_disputes(store: Store, call: Call) -> dict[str, Any]:
    return disputes.list_disputes(store, call.params, call.account)


def _list_events(store: Store, call: Call) -> dict[str, Any]:
    return events.list_events(store, call.params, call.account)


def _retrieve_event(store: Store, call: Call) -> dict[str, Any]:
    return events.retrieve_event(store, call.path_params["id"], call.account)


def _retrieve(object_name: str) -> Handler:
    def retrieve(store: Store, call: Call) -> dict[str, Any]:
        return store.fetch(object_name, call.path_params["id"], call.account)

    return retrieve


def _route(method: str, pattern: str, handler: Handler) -> Route:
    return Route(method, re.compile(pattern.replace("{id}", r"(?P<id>[^/]+)")), handler)


ROUTES = (
    _route("POST", "/v1/checkout/sessions", _create_session),
    _route("GET", "/v1/checkout/sessions/{id}", _retrieve("checkout.session")),
    _route("POST", "/v1/checkout/sessions/{id}/expire", _expire_session),
    _route("GET", "/v1/payment_intents/{id}", _retrieve("payment_intent")),
    _route("GET", "/v1/charges/{id}", _retrieve("charge")),
    _route("POST", "/v1/refunds", _create_refund),
    _route("GET", "/v1/refunds", _list_refunds),
    _route("GET", "/v1/refunds/{id}", _retrieve("refund")),
    _route("GET", "/v1/disputes", _list_disputes),
    _route("GET", "/v1/disputes/{id}", _retrieve("dispute")),
    _route("GET", "/v1/events", _list_events),
    _route("GET", "/v1/events/{id}", _retrieve_event),
)
