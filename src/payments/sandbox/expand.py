"""`expand[]`: replace object ids in a response with the objects, as Stripe does.

Only ids of objects on the requesting account expand; `data.x` paths apply to
every item of a list response. `charge.refunds` is the one includable field:
absent unless expanded, as since API version 2022-11-15.
"""

from __future__ import annotations

import copy
from typing import Any

from payments.sandbox.errors import invalid_request
from payments.sandbox.store import Account, Store


def expand(store: Store, body: dict[str, Any], paths: list[Any], account: Account) -> None:
    """Expand `paths` in place; the caller holds the store lock and owns `body`."""
    for path in paths:
        if not isinstance(path, str) or not path:
            raise invalid_request("Invalid expand: entries must be strings.", param="expand")
        _expand(store, body, path.split("."), account, path)


def _expand(
    store: Store, node: dict[str, Any], steps: list[str], account: Account, path: str
) -> None:
    head, rest = steps[0], steps[1:]
    if node.get("object") == "charge" and head == "refunds":
        node[head] = _charge_refunds(store, node["id"], account)
    if head not in node:
        raise invalid_request(f"This property cannot be expanded ({path}).", param="expand")
    value = node[head]
    if isinstance(value, str):
        stored = store.lookup(value)
        if stored is not None and stored.account == account:
            value = node[head] = copy.deepcopy(stored.obj)
    if not rest:
        return
    children = value if isinstance(value, list) else [value]
    for child in children:
        if isinstance(child, dict):
            _expand(store, child, rest, account, path)


def _charge_refunds(store: Store, charge_id: str, account: Account) -> dict[str, Any]:
    refunds = [r for r in store.all("refund", account) if r["charge"] == charge_id]
    return {
        "object": "list",
        "data": refunds[::-1],
        "has_more": False,
        "url": f"/v1/charges/{charge_id}/refunds",
    }
