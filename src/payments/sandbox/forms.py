"""Bracket-notation form decoding, the inverse of stripe-python's `_encode.py`.

`a[b][c]=v` becomes nested dicts and `x[0][y]=v` / `x[]=v` become lists, so
handlers read request params the way the SDK's Python dicts looked before encoding.
A key nested deeper than any Stripe parameter is refused as Stripe refuses a
malformed request (400 `invalid_request_error`), before anything recurses into it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from payments.sandbox.errors import invalid_request

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
# Stripe's deepest parameters are a handful of levels (line_items[0][price_data][
# product_data][metadata][key]); this leaves room and keeps every walk shallow.
MAX_DEPTH = 32


def parse_form(encoded: str) -> dict[str, Any]:
    """Decode an urlencoded body or query string into nested dicts and lists.

    Raises ApiError (400) for a key nested more than MAX_DEPTH levels.
    """
    return parse_pairs(parse_qsl(encoded, keep_blank_values=True))


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Build the nested structure.

    The SDK never sends a key twice; if a client does, or sends both `a=1` and
    `a[b]=2`, the later pair wins instead of failing the whole request.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        path = _split_key(key)
        if len(path) > MAX_DEPTH:
            raise invalid_request(
                f"Invalid request: the parameter {key[:60]!r}... is nested more than "
                f"{MAX_DEPTH} levels deep.",
                param=path[0][:60],
            )
        node = root
        for segment in path[:-1]:
            name = _resolve(node, segment)
            if not isinstance(node.get(name), dict):
                node[name] = {}
            node = node[name]
        node[_resolve(node, path[-1])] = value
    return _listify(root)


def _split_key(key: str) -> list[str]:
    """`a[b][0]` -> ["a", "b", "0"]; a key that is not well-formed stays literal."""
    match = _KEY.match(key)
    if match is None:
        return [key]
    return [match.group(1), *_SEGMENT.findall(match.group(2))]


def _resolve(node: dict[str, Any], segment: str) -> str:
    """`[]` appends: it names the next free index of the array being built."""
    if segment != "":
        return segment
    index = len(node)
    while str(index) in node:
        index += 1
    return str(index)


def _listify(node: dict[str, Any]) -> dict[str, Any]:
    return {key: _listify_value(value) for key, value in node.items()}


def _listify_value(value: Any) -> Any:
    """Dicts whose keys are all indexes were arrays on the client; order them by index."""
    if not isinstance(value, dict):
        return value
    converted = _listify(value)
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
