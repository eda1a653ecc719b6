"""Bracket-notation form decoding, the inverse of stripe-python's `_encode.py`.

`a[b][c]=v` becomes nested dicts and `x[0][y]=v` / `x[]=v` become lists, so
handlers read request params the way the SDK's Python dicts looked before encoding.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def parse_form(encoded: str) -> dict[str, Any]:
    """Decode an urlencoded body or query string into nested dicts and lists."""
    return parse_pairs(parse_qsl(encoded, keep_blank_values=True))


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Build the nested structure.

    The SDK never sends a key twice; if a client does, or sends both `a=1` and
    `a[b]=2`, the later pair wins instead of failing the whole request.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        path = _split_key(key)
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
