"""JSON as RFC 8259 defines it, for every body a client or a provider sends us.

Python's `json.loads` also reads `NaN`, `Infinity` and `-Infinity` (not JSON), turns
`1e400` into an infinity, and raises a bare `ValueError` for an integer longer than
the interpreter's limit (4,300 digits). Here each of these, like malformed or deeply
nested text, is a `NotJson` whose message says in words what is wrong, so that the
caller answers 400 instead of letting the value reach validation or become a 500.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any


class NotJson(ValueError):
    """Why a body cannot be read as JSON; the message completes "the body ..."."""


def loads(data: bytes) -> Any:
    """Parse UTF-8 JSON text; raise NotJson for anything RFC 8259 or this process cannot take."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotJson(f"is not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_constant, parse_int=_integer, parse_float=_float)
    except NotJson:
        raise
    except json.JSONDecodeError as exc:
        raise NotJson(
            f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise NotJson("is nested too deeply") from None
    except ValueError:  # nothing else is known to raise here; still never a 500
        raise NotJson("is not valid JSON") from None


def _constant(name: str) -> Any:
    raise NotJson(f"is not valid JSON: {name} is not a JSON number")


def _integer(digits: str) -> int:
    try:
        return int(digits)
    except ValueError:  # longer than sys.get_int_max_str_digits()
        limit = sys.get_int_max_str_digits()
        raise NotJson(f"has a number with more than {limit} digits") from None


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: valid syntax, but no double holds it
        raise NotJson(f"has a number too large to use: {text[:20]}")
    return value
