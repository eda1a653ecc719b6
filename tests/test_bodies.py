"""Request bodies: bounded before they are read, sent and parsed as JSON, refused in words."""

from __future__ import annotations

import json

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from payments.app import create_app
from payments.bodies import JsonBodyRoute
from tests.conftest import Shop

MiB = 1024 * 1024
JSON_ENDPOINTS = ["/checkout/sessions", "/admin/sellers", "/admin/products"]


class CountingBody:
    """A request body streamed in chunks, counting how many the service pulled."""

    def __init__(self, total: int, chunk: int) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self):
        while self.sent < self.total:
            self.sent += self.chunk
            yield b" " * self.chunk


async def count_rows(db) -> int:
    return int(
        await db.fetchval(
            "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM sellers)"
            " + (SELECT count(*) FROM products)"
        )
    )


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
async def test_declared_50_mb_body_is_refused_without_reading_it(shop: Shop, db, path) -> None:
    """A Content-Length over MAX_BODY_BYTES answers 413 before a byte of the body is read."""
    body = CountingBody(50 * MiB, MiB)

    response = await shop.client.post(
        path,
        content=body,
        headers={**shop.admin, "Content-Type": "application/json", "Content-Length": str(50 * MiB)},
    )

    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "message": "the body is larger than 65536 bytes",
    }
    assert body.sent <= MiB  # at most the chunk the transport had in hand
    assert await count_rows(db) == 0


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
async def test_streamed_body_without_length_is_cut_off_at_the_limit(shop: Shop, db, path) -> None:
    """A chunked body with no Content-Length is counted and refused once it passes the limit."""
    body = CountingBody(50 * MiB, 16 * 1024)

    response = await shop.client.post(
        path, content=body, headers={**shop.admin, "Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert body.sent <= 64 * 1024 + 16 * 1024
    assert await count_rows(db) == 0


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 100}])
async def test_the_limit_is_the_max_body_bytes_setting(shop: Shop, db) -> None:
    """MAX_BODY_BYTES sets the limit of the JSON endpoints (webhooks have their own)."""
    small = await shop.client.post("/checkout/sessions", json={"items": []})
    large = await shop.client.post("/checkout/sessions", json={"items": [], "x": "y" * 100})

    assert small.status_code == 422  # read and validated
    assert large.status_code == 413


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}],
    ids=["no content type", "text", "form"],
)
@pytest.mark.parametrize("path", JSON_ENDPOINTS)
async def test_body_not_sent_as_json_is_415(shop: Shop, db, path, headers) -> None:
    """A JSON endpoint says so when the Content-Type is missing or not JSON."""
    response = await shop.client.post(
        path, content=b'{"items": []}', headers={**shop.admin, **headers}
    )

    assert response.status_code == 415
    assert response.json()["error"] == {
        "code": "unsupported_media_type",
        "message": "send the body as JSON, with Content-Type: application/json",
    }
    assert await count_rows(db) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"items": [1,]}',
            "the body is not valid JSON: Expecting value at line 1, column 14",
        ),
        (b'{\n  "items": x\n}', "the body is not valid JSON: Expecting value at line 2, column 12"),
        (b'{"items": "\xe9"}', "the body is not UTF-8 text (byte 11)"),
        (b"[" * 20_000 + b"]" * 20_000, "the body is nested too deeply"),
        (b'{"items": ' + b"9" * 4301 + b"}", "the body has a number with more than 4300 digits"),
        (b'{"items": [], "x": NaN}', "the body is not valid JSON: NaN is not a JSON number"),
        (b'{"items": Infinity}', "the body is not valid JSON: Infinity is not a JSON number"),
        (b'{"items": -Infinity}', "the body is not valid JSON: -Infinity is not a JSON number"),
        (b'{"items": 1e400}', "the body has a number too large to use: 1e400"),
    ],
    ids=[
        "syntax",
        "second line",
        "latin-1",
        "nested",
        "huge integer",
        "NaN",
        "inf",
        "-inf",
        "1e400",
    ],
)
@pytest.mark.parametrize("path", JSON_ENDPOINTS)
async def test_body_that_is_not_json_is_400_in_words(shop: Shop, db, path, body, message) -> None:
    """Unparseable bodies answer 400 invalid_json saying what and where, in the error shape."""
    response = await shop.client.post(
        path, content=body, headers={**shop.admin, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "invalid_json", "message": message}
    assert await count_rows(db) == 0


async def test_json_media_types_with_parameters_are_json(shop: Shop) -> None:
    """`application/json; charset=utf-8` and `application/*+json` are JSON."""
    product = await shop.product()
    body = json.dumps({"items": [{"product_id": product["id"], "quantity": 1}]}).encode()

    plain = await shop.client.post(
        "/checkout/sessions",
        content=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    suffixed = await shop.client.post(
        "/checkout/sessions", content=body, headers={"Content-Type": "application/vnd.api+json"}
    )

    assert (plain.status_code, suffixed.status_code) == (201, 201)


async def test_missing_body_is_named(shop: Shop) -> None:
    """An empty JSON body is a 422 that says a body is needed."""
    response = await shop.client.post(
        "/checkout/sessions", content=b"", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["message"] == "a JSON body is required"


def test_every_route_with_a_json_body_checks_it() -> None:
    """A router that forgets `route_class=JsonBodyRoute` would answer FastAPI's generic 400."""
    app = create_app()
    body_routes = [
        context.original_route
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.original_route.body_field
    ]

    assert {route.path for route in body_routes} >= set(JSON_ENDPOINTS)
    assert [r.path for r in body_routes if not isinstance(r, JsonBodyRoute)] == []
