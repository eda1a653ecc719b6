"""Events: recording what Stripe would emit, and `GET /v1/events` listing.

Events are listed newest first and scoped like every other object: a connected
account's events (direct charges, their sessions, refunds and disputes) are visible
only with that account's `Stripe-Account` header, never in the platform's list.
As on Stripe, events older than 30 days are neither listed nor retrievable.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from payments.sandbox import objects
from payments.sandbox.errors import invalid_request, resource_missing
from payments.sandbox.ids import new_id
from payments.sandbox.lists import created_filter, list_page
from payments.sandbox.params import as_bool, as_list, as_str
from payments.sandbox.store import Account, Store

RETENTION_SECONDS = 30 * 24 * 60 * 60


def emit(
    store: Store,
    event_type: str,
    obj: dict[str, Any],
    *,
    account: Account,
    livemode: bool | None = None,
    request: tuple[str, str | None] | None = None,
    previous_attributes: dict[str, Any] | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """Record an event carrying a snapshot of `obj` as it is now.

    `request` is (request id, idempotency key) for events caused by an API call;
    automatic events (a buyer paying, a session expiring, anything done "in the
    Dashboard") have none. `previous_attributes` is for `*.updated` events: the old
    values of the keys that changed. `created` backdates the event (default: now).
    """
    request_id, idempotency_key = request if request is not None else (None, None)
    event = objects.event(
        event_id=new_id("evt"),
        event_type=event_type,
        obj=copy.deepcopy(obj),
        account=account,
        livemode=store.livemode if livemode is None else livemode,
        created=int(time.time()) if created is None else created,
        request_id=request_id,
        idempotency_key=idempotency_key,
        previous_attributes=copy.deepcopy(previous_attributes),
    )
    store.add_event(event)
    return copy.deepcopy(event)


def list_events(store: Store, params: dict[str, Any], account: Account) -> dict[str, Any]:
    """One page of the account's events, newest first, in Stripe's list envelope.

    `delivery_success=true` keeps events the sandbox delivered to their webhook
    endpoint (a 2xx answer); `false` keeps the rest: pending, failing, given up,
    dropped, or never sent because no endpoint is configured.
    """
    wanted = _event_filter(store, params)
    cutoff = int(time.time()) - RETENTION_SECONDS
    with store.lock:
        recent = [e for e in store.events(account) if e["created"] >= cutoff]
        return list_page(recent, params, url="/v1/events", object_name="event", wanted=wanted)


def retrieve_event(store: Store, event_id: str, account: Account) -> dict[str, Any]:
    """`GET /v1/events/{id}`: on the caller's account and from the last 30 days only."""
    with store.lock:
        event = store.fetch("event", event_id, account)
        if event["created"] < int(time.time()) - RETENTION_SECONDS:
            raise resource_missing("event", event_id)
        return event


EventFilter = Callable[[dict[str, Any]], bool]


def _event_filter(store: Store, params: dict[str, Any]) -> EventFilter:
    """Parse the filters once, so bad params fail even when no event exists."""
    type_matches = _type_filter(params)
    created_matches = created_filter(params.get("created"))
    delivered = as_bool(params.get("delivery_success"), "delivery_success")

    def wanted(event: dict[str, Any]) -> bool:
        if delivered is not None and store.delivered(event["id"]) != delivered:
            return False
        return type_matches(event["type"]) and created_matches(event["created"])

    return wanted


def _type_filter(params: dict[str, Any]) -> Callable[[str], bool]:
    single = as_str(params.get("type"), "type")
    many = as_list(params.get("types"), "types")
    if single is not None and many:
        raise invalid_request("You may only specify one of these parameters: type, types.")
    if single is not None:
        return lambda event_type: _glob(single, event_type)
    if many:
        return lambda event_type: event_type in many
    return lambda _event_type: True


def _glob(pattern: str, event_type: str) -> bool:
    """Stripe's `type` filter accepts a `*` wildcard, e.g. `charge.dispute.*`."""
    if "*" not in pattern:
        return pattern == event_type
    prefix, _, suffix = pattern.partition("*")
    return event_type.startswith(prefix) and event_type.endswith(suffix)
