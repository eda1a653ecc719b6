"""Every text input carries a TextRule, so no field can let NUL or a lone surrogate through."""

from __future__ import annotations

import types
import typing
import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, get_args, get_origin

import pytest
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, EmailStr, TypeAdapter, ValidationError

from payments.app import create_app
from payments.inputs import PLAIN_TEXT, VISIBLE_TEXT, TextRule

_SAFE_LEAVES = (int, bool, float, uuid.UUID, datetime, type(None))


def _unguarded(annotation: Any, metadata: tuple[Any, ...], where: str) -> list[str]:
    """Paths of string leaves under `annotation` that carry no TextRule."""
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return _unguarded(base, (*metadata, *extra), where)
    if annotation is str or annotation is EmailStr:
        return [] if any(isinstance(m, TextRule) for m in metadata) else [where]
    if isinstance(annotation, type) and issubclass(annotation, (Enum, *_SAFE_LEAVES)):
        return []  # a fixed set of values, or not text
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [
            path
            for name, field in annotation.model_fields.items()
            for path in _unguarded(field.annotation, tuple(field.metadata), f"{where}.{name}")
        ]
    if get_origin(annotation) in (typing.Union, types.UnionType, list, tuple, set, frozenset):
        return [path for arg in get_args(annotation) for path in _unguarded(arg, (), where)]
    return [f"{where} (unknown type {annotation!r}: teach this test about it)"]


def test_every_text_input_of_the_api_is_guarded() -> None:
    """A new body field, query parameter or header that is a bare `str` fails here."""
    app = create_app()
    found: list[str] = []
    seen: set[str] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for field in [*get_flat_params(route.dependant), *route.dependant.body_params]:
            seen.add(f"{route.path} {field.alias}")
            info = field.field_info
            found += _unguarded(
                info.annotation, tuple(info.metadata), f"{route.path} {field.alias}"
            )
    # The walk saw the body, query and header inputs that carry text.
    assert {
        "/checkout/sessions body",
        "/checkout/sessions Idempotency-Key",
        "/checkout/verify session_id",
        "/admin/sellers body",
    } <= seen
    assert found == []


def test_the_walk_finds_a_bare_string() -> None:
    """The check above would catch a field that forgot its rule, however deep."""

    class Item(BaseModel):
        note: str | None = None
        safe: Annotated[str, PLAIN_TEXT]

    class Body(BaseModel):
        items: list[Item]

    assert _unguarded(Body, (), "body") == ["body.items.note"]


@pytest.mark.parametrize(
    "value", ["a\x00b", "\ud800", "tab\there", "line\n", "\x7f", "\x85", "\x9f"]
)
def test_plain_text_refuses_control_characters_and_surrogates(value) -> None:
    """C0/C1 controls and unpaired surrogates are refused, naming the code point."""
    with pytest.raises(ValidationError, match="must not contain control characters"):
        TypeAdapter(Annotated[str, PLAIN_TEXT]).validate_python(value)


@pytest.mark.parametrize("value", ["", "Concert ticket", "Café, 5 €", "日本語", "emoji 🎫"])
def test_plain_text_takes_any_other_text(value) -> None:
    """Everything else, any script or symbol, passes unchanged."""
    assert TypeAdapter(Annotated[str, PLAIN_TEXT]).validate_python(value) == value


@pytest.mark.parametrize("value", ["", " ", "\u3000\xa0"])
def test_visible_text_refuses_blank_values(value) -> None:
    """Names must show something."""
    with pytest.raises(ValidationError, match="must not be empty or only spaces"):
        TypeAdapter(Annotated[str, VISIBLE_TEXT]).validate_python(value)
