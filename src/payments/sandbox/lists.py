"""Stripe's list endpoints: one envelope, one `limit`, one cursor rule, one `created` filter.

Lists are newest first by `created` (ties: the later-recorded first). `starting_after=X`
gives the next-older page, `ending_before=X` the `limit` items just newer than X, still
newest first, which is what the SDK's auto-pagination expects in both directions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from payments.sandbox.errors import invalid_request
from payments.sandbox.params import as_dict, as_int, as_str

MAX_LIMIT = 100
DEFAULT_LIMIT = 10

Filter = Callable[[dict[str, Any]], bool]


def list_page(
    items: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    url: str,
    object_name: str,
    wanted: Filter,
) -> dict[str, Any]:
    """One page of `items` (live objects of one account, any order) in the list envelope.

    The cursor is located before filtering, as Stripe does, so a cursor object that a
    filter would hide still marks a valid position. The caller holds the store lock.
    """
    limit = parse_limit(params)
    newest_first = sorted(items, key=lambda item: item["created"])[::-1]
    before, after = _cursor_window(newest_first, params, object_name)
    if after is not None:
        matches = [item for item in after if wanted(item)]
        page, has_more = matches[:limit], len(matches) > limit
    else:
        matches = [item for item in before if wanted(item)]
        page, has_more = matches[-limit:], len(matches) > limit
    return {"object": "list", "url": url, "has_more": has_more, "data": copy.deepcopy(page)}


def parse_limit(params: dict[str, Any]) -> int:
    limit = as_int(params.get("limit"), "limit", minimum=1) or DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise invalid_request(
            f"Invalid limit: must be at most {MAX_LIMIT}",
            param="limit",
            code="parameter_invalid_integer",
        )
    return limit


def field_equals(params: dict[str, Any], *names: str) -> Filter:
    """Filters such as `charge=ch_...`: each named param, when given, must equal the field."""
    required = {
        name: value for name in names if (value := as_str(params.get(name), name)) is not None
    }
    return lambda item: all(item.get(name) == value for name, value in required.items())


_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    "gt": lambda created, bound: created > bound,
    "gte": lambda created, bound: created >= bound,
    "lt": lambda created, bound: created < bound,
    "lte": lambda created, bound: created <= bound,
}


def created_filter(raw: Any) -> Callable[[int], bool]:
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
    newest_first: list[dict[str, Any]], params: dict[str, Any], object_name: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Split around the cursor: (newer items, older items or None when paging backwards)."""
    starting_after = as_str(params.get("starting_after"), "starting_after")
    ending_before = as_str(params.get("ending_before"), "ending_before")
    if starting_after is not None:
        position = _index_of(newest_first, starting_after, "starting_after", object_name)
        return newest_first[:position], newest_first[position + 1 :]
    if ending_before is not None:
        position = _index_of(newest_first, ending_before, "ending_before", object_name)
        return newest_first[:position], None
    return [], newest_first


def _index_of(items: list[dict[str, Any]], item_id: str, param: str, object_name: str) -> int:
    for index, item in enumerate(items):
        if item["id"] == item_id:
            return index
    raise invalid_request(
        f"No such {object_name}: '{item_id}'", param=param, code="resource_missing"
    )
