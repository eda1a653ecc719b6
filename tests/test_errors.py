"""One error shape for everything a client can see, and an OpenAPI schema that tells the truth."""

from __future__ import annotations

import json

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
    assert response.headers["allow"] == "GET"
    assert response.json()["error"] == {
        "code": "method_not_allowed",
        "message": "DELETE /products is not allowed; use GET",
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
        "items[0].quantity: Input should be greater than or equal to 1; "
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
        assert body["required"] == ["id", "type", "data"]
        assert declared_codes(operation)["400"] == {"invalid_webhook"}
