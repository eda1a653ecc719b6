"""The types every client input uses: text the database can store, and integers
as JSON Schema means them.

A JSON body may spell characters that Postgres refuses (`"\\u0000"`) or cannot
encode (an unpaired surrogate, `"\\ud800"`); without these types they reach the
database and fail there, as a 500. Every string a route takes (body field, query
or header) carries a `TextRule`: `PLAIN_TEXT`, or a `Pattern` for ids and codes;
a test walks the routes to keep it so. Each rule also goes into the OpenAPI
schema as a `pattern`, so the schema says what is accepted, while the error
message stays readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# C0 and C1 control characters, as regex escapes so that the same text works in Python
# and in the schema's ECMA-262 dialect. Surrogates are refused too, but left out of the
# schema's pattern: validators built on UTF-8 strings (Rust's, say) cannot compile them,
# and no JSON encoder writes a lone one unless asked to.
_CONTROL = r"\u0000-\u001f\u007f-\u009f"
_FORBIDDEN = re.compile(f"[{_CONTROL}\\ud800-\\udfff]")


class TextRule:
    """What a string input must look like; subclasses check it and describe it.

    The check runs first, on the string as sent: before whitespace is stripped
    (U+0085 is whitespace to Python) and before pydantic converts it (which fails
    on a surrogate with a message nobody can act on). Anything but a string is
    left to the field's type.
    """

    def check(self, value: str) -> str:
        raise NotImplementedError

    def schema_pattern(self) -> str:
        """The same rule as a JSON Schema `pattern` (ECMA-262 regex)."""
        raise NotImplementedError

    def _check_text(self, value: object) -> object:
        return self.check(value) if isinstance(value, str) else value

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self._check_text, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self.schema_pattern())
        return json_schema


@dataclass(frozen=True)
class PlainText(TextRule):
    """Text without control characters (tab and newline included) or lone surrogates;
    with `blank=False`, also with at least one character that is not whitespace."""

    blank: bool = True

    def schema_pattern(self) -> str:
        allowed = f"[^{_CONTROL}]"
        if self.blank:
            return f"^{allowed}*$"
        return f"^{allowed}*[^\\s{_CONTROL}]{allowed}*$"

    def check(self, value: str) -> str:
        found = _FORBIDDEN.search(value)
        if found is not None:
            raise PydanticCustomError(
                "plain_text",
                "must not contain control characters or unpaired surrogates "
                "(found U+{codepoint} at position {position})",
                {"codepoint": f"{ord(found.group()):04X}", "position": found.start()},
            )
        if not self.blank and (not value or value.isspace()):
            raise PydanticCustomError("blank_text", "must not be empty or only spaces")
        return value


@dataclass(frozen=True)
class Pattern(TextRule):
    """Text of a fixed shape (an id, a code), described to people by `expected`.

    The regex must itself exclude control characters and surrogates (ids here are ASCII).
    """

    regex: str
    expected: str

    def schema_pattern(self) -> str:
        return f"^(?:{self.regex})$"

    def check(self, value: str) -> str:
        if re.fullmatch(self.regex, value) is None:
            raise PydanticCustomError(
                "text_pattern", "must be {expected}", {"expected": self.expected}
            )
        return value


PLAIN_TEXT = PlainText()
VISIBLE_TEXT = PlainText(blank=False)
Text = Annotated[str, PLAIN_TEXT]


def _integral(value: object) -> object:
    """A JSON number with no fraction (`5.0`, `1e3`) is an integer, as in JSON Schema."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Last in an integer's metadata, after `Field(strict=True, ...)`: strict otherwise, so
# `"5"`, `true` and `5.5` are refused, never coerced. (Placed last, the field's bounds
# still reach the schema as `minimum`/`maximum`.)
WHOLE_NUMBER = BeforeValidator(_integral)


# An empty key is refused like any malformed one, never taken as "no key".
IdempotencyKey = Annotated[
    Annotated[
        str,
        Pattern(r"[\x21-\x7e]{1,255}", "1 to 255 visible ASCII characters, such as a UUID"),
    ]
    | None,
    Header(
        alias="Idempotency-Key",
        description="Retrying with the same key (and the same body) returns the same result "
        "instead of doing it twice; another body with the key is a 422.",
    ),
]
