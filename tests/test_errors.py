"""One error shape for everything a client can see, and an OpenAPI schema that tells the truth."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Shop

ERROR_CODES_OF_CHECKOUT = {
    "400": {"invalid_json"},
    "409": {"out_of_stock", "idempotency_key_in_use"},
    "413": {"payload_too_large"},
    "415": {"unsupported_media_type"},
    "422": {
        "invalid_request",
        "unknown_product",
        "mixed_sellers",
        "mixed_currencies",
        "idempotency_key_reused",
        "amount_too_large",
        "provider_rejected",
    },
    "500": {"internal_error"},
    "502": {"provider_error"},
    "503": {"service_unavailable"},
}


def declared_codes(operation: dict) -> dict[str, set[str]]:
    """Status -> the error codes an operation's schema says it can answer."""
    codes = {}
    for status, response in operation["responses"].items():
        if status.startswith(("4", "5")):
            schema = response["content"]["application/json"]["schema"]
            codes[status] = set(schema["properties"]["error"]["properties"]["code"]["enum"])
    return codes


async def openapi(shop: Shop) -> dict:
    response = await shop.client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


async def test_unknown_route_is_404_in_the_error_shape(shop: Shop) -> None:
    """The framework's 404 speaks the service's error shape, with the request id."""
    response = await shop.client.get("/no/such/thing")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "no such route: GET /no/such/thing"}
    }
    assert response.headers["x-request-id"]


async def test_wrong_method_is_405_with_allow(shop: Shop) -> None:
    """A known path with the wrong method says which methods it takes."""
    response = await shop.client.delete("/products")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["error"] == {
        "code": "method_not_allowed",
        "message": "DELETE /products is not allowed; use GET, HEAD",
    }


async def test_unexpected_exception_is_a_logged_json_500(app, capsys) -> None:
    """A bug answers JSON `internal_error` without internals, and its traceback is logged."""

    async def broken() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_api_route("/test-only/broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as client:
        response = await client.get("/test-only/broken", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "something went wrong on our side; it has been logged",
        }
    }
    assert response.headers["x-request-id"] == "req-500"
    logged = capsys.readouterr().out
    assert "request.failed" in logged
    assert "req-500" in logged
    assert "RuntimeError: secret internals" in logged


async def test_slash_redirects_do_not_reflect_the_host_header(shop: Shop) -> None:
    """`/products/` is a 404: no redirect, so no Location built from a client's Host."""
    response = await shop.client.get("/products/", headers={"Host": "evil.example"})

    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/checkout/verify?session_id=cs%00x",
            "query parameter session_id: must be a Checkout Session id, such as cs_test_a1B2c3",
        ),
        (
            "/orders/not-a-uuid",
            "path parameter order_id: must be a UUID, such as 3fa85f64-5717-4562-b3fc-2c963f66afa6",
        ),
        ("/checkout/verify", "query parameter session_id: is required"),
    ],
)
async def test_parameter_errors_name_the_parameter_in_words(shop: Shop, path, message) -> None:
    """Messages say where and what, with no regular expression in them."""
    response = await shop.client.get(path)

    assert response.status_code == 422
    assert response.json()["error"] == {"code": "invalid_request", "message": message}


async def test_body_errors_name_each_field(shop: Shop) -> None:
    """Every problem of a body is listed with its path."""
    body = {"items": [{"product_id": "x", "quantity": 0}], "coupon": "FREE"}

    response = await shop.client.post("/checkout/sessions", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "items[0].product_id: must be a UUID, such as 3fa85f64-5717-4562-b3fc-2c963f66afa6; "
        "items[0].quantity: must be 1 or more; "
        "coupon: is not a field of this request"
    )


async def test_every_error_response_in_the_schema_is_the_service_shape(shop: Shop) -> None:
    """No FastAPI HTTPValidationError: each 4xx/5xx lists its codes as an enum of `code`."""
    schema = await openapi(shop)

    assert "HTTPValidationError" not in json.dumps(schema)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = declared_codes(operation)
            assert codes.get("500") == {"internal_error"}, (method, path)
            if path != "/healthz":  # everything else reads the database
                assert codes.get("503") == {"service_unavailable"}, (method, path)
            if operation.get("parameters") or "requestBody" in operation:
                assert "422" in codes or path.startswith("/webhooks"), (method, path)


async def test_checkout_declares_every_code_it_can_answer(shop: Shop) -> None:
    """The schema of POST /checkout/sessions names each error a client can branch on."""
    schema = await openapi(shop)

    assert declared_codes(schema["paths"]["/checkout/sessions"]["post"]) == ERROR_CODES_OF_CHECKOUT


async def test_readyz_and_webhooks_declare_what_they_answer(shop: Shop) -> None:
    """/readyz declares its 503; the webhooks their signature header and event body."""
    schema = await openapi(shop)

    assert "503" in schema["paths"]["/readyz"]["get"]["responses"]
    for path in ("/webhooks/stripe", "/webhooks/stripe/connect"):
        operation = schema["paths"][path]["post"]
        assert operation["parameters"] == [
            {
                "name": "Stripe-Signature",
                "in": "header",
                "required": True,
                "description": operation["parameters"][0]["description"],
                "schema": {"type": "string"},
            }
        ]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["required"] == ["id", "type", "livemode", "data"]
        assert body["properties"]["livemode"]["type"] == "boolean"
        assert declared_codes(operation)["400"] == {"invalid_webhook"}


# pydantic's phrasing, regexes and internals: none of it may reach a client.
PYDANTIC_WORDING = re.compile(
    r"Input should|should have|unable to parse|Value error|after validation|"
    r"valid (string|integer|list|dictionary|UUID|boolean)|[\^$\\]\[|\\d|\\s"
)
HOSTILE = [
    None,
    True,
    "x",
    "\ud800",
    "x\x00",
    "",
    " ",
    "a" * 300,
    1.5,
    -1,
    0,
    10**12,
    [],
    [1],
    {},
    {"k": 1},
]
VALID_CART = {"items": [{"product_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "quantity": 1}]}
BODIES = {
    "/checkout/sessions": {**VALID_CART, "customer_email": "a@example.com"},
    "/admin/sellers": {
        "name": "Seller",
        "stripe_account_id": "acct_1",
        "charge_type": "direct",
        "fee_bps": 100,
    },
    "/admin/products": {"name": "Ticket", "unit_amount": 100, "currency": "usd", "stock": 1},
}
ITEM = VALID_CART["items"][0]


def hostile_bodies(path: str) -> list[object]:
    """Every field of the route's body (and of a cart item) replaced by each hostile value,
    unknown keys that do not print, and bodies that are not objects."""
    valid = BODIES[path]
    bodies: list[object] = [value for value in HOSTILE if not isinstance(value, dict)]
    bodies += [{**valid, field: value} for field in valid for value in HOSTILE]
    bodies += [{**valid, key: 1} for key in ("\x00", "\ud800", "\u202e", "k" * 300)]
    if path == "/checkout/sessions":
        bodies += [{"items": [{**ITEM, field: value}]} for field in ITEM for value in HOSTILE]
        bodies += [{"items": [value]} for value in HOSTILE]
        bodies += [{"items": [ITEM] * 101}]
    return bodies


def hostile_requests() -> list[tuple[str, str, dict]]:
    """(method, url, httpx keyword arguments) for every input of every route."""
    requests = [
        ("POST", path, {"content": json.dumps(body).encode()})
        for path in BODIES
        for body in hostile_bodies(path)
    ]
    for value in ["", "x", "\x7f", "cs_" + "x" * 300, "é", "\ud800"]:
        encoded = quote(value, safe="", errors="surrogatepass")
        requests.append(("GET", f"/checkout/verify?session_id={encoded}", {}))
        requests.append(("GET", f"/orders/{encoded}", {}))
        requests.append(("GET", f"/admin/products/{encoded}", {}))
    for name, value in [
        ("status", "x"),
        ("flagged", "maybe"),
        ("limit", "x"),
        ("limit", "0"),
        ("limit", "501"),
        ("limit", "1.5"),
    ]:
        requests.append(("GET", "/admin/orders", {"params": {name: value}}))
    for key in [b"", b"a b", b"\xff", b"k" * 300]:
        requests.append(
            (
                "POST",
                "/checkout/sessions",
                {"content": json.dumps(VALID_CART).encode(), "headers": {"Idempotency-Key": key}},
            )
        )
    return requests


async def test_every_message_a_client_can_cause_is_in_the_services_words(
    shop: Shop, capsys
) -> None:
    """Each input of each route, sent what pydantic refuses, answers a 4xx in plain words:
    no pydantic phrasing, no pattern, nothing that does not print; no type left unmapped."""
    problems = []
    for method, url, kwargs in hostile_requests():
        headers = {**shop.admin, "Content-Type": "application/json", **kwargs.pop("headers", {})}
        response = await shop.client.request(method, url, headers=headers, **kwargs)
        if response.status_code >= 500:
            problems.append((method, url, kwargs, response.status_code))
        if response.status_code < 400:
            continue  # the value was fine for this field
        message = response.json()["error"]["message"]
        if PYDANTIC_WORDING.search(message) or not message.isprintable():
            problems.append((method, url, kwargs, message))

    assert problems == []
    assert "validation.unmapped_error" not in capsys.readouterr().out


@pytest.mark.parametrize("field", ["product_id", "quantity"])
async def test_lone_surrogate_in_a_cart_item_is_named_in_words(shop: Shop, field) -> None:
    """`"\\ud800"` where a UUID or number is due says what is wrong, not pydantic's parse error."""
    item = {**ITEM, field: "\ud800"}

    response = await shop.client.post(
        "/checkout/sessions",
        content=json.dumps({"items": [item]}).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    expected = {
        "product_id": "must be text without unpaired surrogates (\\ud800 to \\udfff)",
        "quantity": "must be a whole number",
    }[field]
    assert response.json()["error"]["message"] == f"items[0].{field}: {expected}"


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/%00", "/%00"),
        ("/a%07b", "/a%07b"),
        ("/%1B%5B31m", "/%1B%5B31m"),
        ("/%FF", "/%EF%BF%BD"),
        ("/caf%C3%A9", "/caf%C3%A9"),
        ("/" + "x" * 300, "/" + "x" * 99 + "..."),
    ],
    ids=["NUL", "bell", "escape", "not UTF-8", "non-ASCII", "long"],
)
async def test_unknown_route_shows_its_path_percent_encoded_and_short(
    shop: Shop, path, shown
) -> None:
    """A 404 never echoes control characters: the path is shown as a URL would write it."""
    response = await shop.client.get(path)

    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"no such route: GET {shown}"


async def test_405_names_every_method_of_its_path(client) -> None:
    """GET and POST at one path are two routes: the 405's Allow names both (and HEAD)."""
    answer = await client.put("/admin/webhook-endpoints")
    assert answer.status_code == 405
    assert sorted(answer.headers["allow"].split(", ")) == ["GET", "HEAD", "POST"]
    assert answer.json()["error"]["code"] == "method_not_allowed"
