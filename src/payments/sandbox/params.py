"""Typed reads of decoded form params, failing the way Stripe does (400 + `param`).

Every value off the wire is a string (or a nested dict/list of strings); these
helpers turn them into Python values and name the offending param on failure.
"""

from __future__ import annotations

import re
from typing import Any

from payments.sandbox.errors import invalid_request, missing_param

_INTEGER = re.compile(r"^-?[0-9]+$")
_BELOW_MINIMUM = {0: "Invalid non-negative integer", 1: "Invalid positive integer"}


def get_path(params: dict[str, Any], *path: str) -> Any:
    """Walk nested dicts; a missing or non-dict step reads as absent (None)."""
    node: Any = params
    for step in path:
        if not isinstance(node, dict):
            return None
        node = node.get(step)
    return node


def require(value: Any, param: str) -> Any:
    if value is None or value == "":
        raise missing_param(param)
    return value


def as_str(value: Any, param: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_request(f"Invalid string: {param} must be a string.", param=param)
    return value


def as_int(value: Any, param: str, *, minimum: int | None = None) -> int | None:
    """Parse an integer param; `minimum` 0 or 1 mirrors Stripe's non-negative/positive checks."""
    if value is None:
        return None
    if not isinstance(value, str) or not _INTEGER.match(value):
        raise invalid_request(
            f"Invalid integer: {value!s}", param=param, code="parameter_invalid_integer"
        )
    number = int(value)
    if minimum is not None and number < minimum:
        message = _BELOW_MINIMUM.get(minimum, f"Invalid integer: must be at least {minimum}")
        raise invalid_request(message, param=param, code="parameter_invalid_integer")
    return number


def as_bool(value: Any, param: str) -> bool | None:
    if value is None:
        return None
    if value == "true":
        return True
    if value == "false":
        return False
    raise invalid_request(f"Invalid boolean: {value!s}", param=param)


def as_dict(value: Any, param: str) -> dict[str, Any]:
    """An absent or blank hash reads as empty; anything else must be a hash."""
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid hash: {param} must be a hash.", param=param)
    return value


def as_list(value: Any, param: str) -> list[Any]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise invalid_request(f"Invalid array: {param} must be an array.", param=param)
    return value


def as_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """Metadata keeps string values; blank values are how a key is unset, so they drop out."""
    metadata = as_dict(value, param)
    for key, item in metadata.items():
        if not isinstance(item, str):
            raise invalid_request(
                f"Invalid value for {param}[{key}]: metadata values must be strings.",
                param=f"{param}[{key}]",
            )
    return {key: item for key, item in metadata.items() if item != ""}


def required_str(value: Any, param: str) -> str:
    text = as_str(require(value, param), param)
    assert text is not None  # noqa: S101  # require() rejected None; narrows the type
    return text


def required_int(value: Any, param: str, *, minimum: int | None = None) -> int:
    number = as_int(require(value, param), param, minimum=minimum)
    assert number is not None  # noqa: S101  # require() rejected None; narrows the type
    return number
