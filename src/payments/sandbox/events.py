"""Events: recording what Stripe would emit, and `GET /v1/events` listing.

Events are listed newest first and scoped like every other object: a connected
account's events (direct charges, their sessions and refunds) are visible only
with that account's `Stripe-Account` header, never in the platform's list.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from payments.sandbox import objects
from payments.sandbox.errors import invalid_request
from payments.sandbox.ids import new_id
from payments.sandbox.params import as_dict, as_int, as_list, as_str
from payments.sandbox.store import Account, Store

MAX_LIMIT = 100
DEFAULT_LIMIT = 10


def emit(
    store: Store,
    event_type: str,
    obj: dict[str, Any],
    *,
    account: Account,
    livemode: bool | None = None,
    request: tuple[str, str | None] | None = None,
) -> dict[str, Any]:
    """Record an event carrying a snapshot of `obj` as it is now.

    `request` is (request id, idempotency key) for events caused by an API call;
    automatic events (a buyer paying, a session expiring) have none.
    """
    request_id, idempotency_key = request if request is not None else (None, None)
    event = objects.event(
        event_id=new_id("evt"),
        event_type=event_type,
        obj=copy.deepcopy(obj),
        account=account,
        livemode=store.livemode if livemode is None else livemode,
        created=int(time.time()),
        request_id=request_id,
        idempotency_key=idempotency_key,
    )
    store.add_event(event)
    return copy.deepcopy(event)


def list_events(store: Store, params: dict[str, Any], account: Account) -> dict[str, Any]:
    """One page of the account's events, newest first, in Stripe's list envelope."""
    limit = as_int(params.get("limit"), "limit", minimum=1) or DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise invalid_request(
            f"Invalid limit: must be at most {MAX_LIMIT}",
            param="limit",
            code="parameter_invalid_integer",
        )
    wanted = _event_filter(params)
    with store.lock:
        newest_first = list(reversed(store.events(account)))
        before, after = _cursor_window(newest_first, params)
        if after is not None:
            matches = [e for e in after if wanted(e)]
            page, has_more = matches[:limit], len(matches) > limit
        else:
            matches = [e for e in before if wanted(e)]
            page, has_more = matches[-limit:], len(matches) > limit
        data = copy.deepcopy(page)
    return {"object": "list", "url": "/v1/events", "has_more": has_more, "data": data}


EventFilter = Callable[[dict[str, Any]], bool]


def _event_filter(params: dict[str, Any]) -> EventFilter:
    """Parse `type`/`types`/`created` once, so bad params fail even when no event exists."""
    type_matches = _type_filter(params)
    created_matches = _created_filter(params.get("created"))
    return lambda event: type_matches(event["type"]) and created_matches(event["created"])


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


_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda created, bound: created > bound,
    "gte": lambda created, bound: created >= bound,
    "lt": lambda created, bound: created < bound,
    "lte": lambda created, bound: created <= bound,
}


def _created_filter(raw: Any) -> Callable[[int], bool]:
    """`created` is either an exact timestamp or a hash of gt/gte/lt/lte bounds."""
    if raw is None:
        return lambda _created: True
    if isinstance(raw, str):
        exact = as_int(raw, "created")
        return lambda created: created == exact
    bounds: list[tuple[Callable[[int, int], bool], int]] = []
    for name, value in as_dict(raw, "created").items():
        if name not in _COMPARISONS:
            raise invalid_request(
                f"Received unknown parameter: created[{name}]", param=f"created[{name}]"
            )
        bound = as_int(value, f"created[{name}]")
        if bound is not None:
            bounds.append((_COMPARISONS[name], bound))
    return lambda created: all(compare(created, bound) for compare, bound in bounds)


def _cursor_window(
    newest_first: list[dict[str, Any]], params: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Split around the cursor: (newer events, older events or None when paging backwards).

    The cursor is located before filtering, as Stripe does, so a cursor event that a
    filter would hide still marks a valid position.
    """
    starting_after = as_str(params.get("starting_after"), "starting_after")
    ending_before = as_str(params.get("ending_before"), "ending_before")
    if starting_after is not None:
        position = _index_of(newest_first, starting_after, "starting_after")
        return newest_first[:position], newest_first[position + 1 :]
    if ending_before is not None:
        position = _index_of(newest_first, ending_before, "ending_before")
        return newest_first[:position], None
    return [], newest_first


def _index_of(events: list[dict[str, Any]], event_id: str, param: str) -> int:
    for index, event in enumerate(events):
        if event["id"] == event_id:
            return index
    raise invalid_request(f"No such event: '{event_id}'", param=param, code="resource_missing")
