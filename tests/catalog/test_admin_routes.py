"""Admin API: bearer key, sellers, products."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import Shop


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key-wrong-key"},
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"Authorization": "test-admin-key-0123456789"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/sellers"),
        ("POST", "/admin/products"),
        ("GET", f"/admin/products/{uuid.uuid4()}"),
        ("GET", f"/admin/orders/{uuid.uuid4()}"),
        ("GET", "/admin/orders"),
    ],
)
async def test_admin_routes_need_the_admin_key(shop: Shop, headers, method, path) -> None:
    """Anything but `Authorization: Bearer $ADMIN_API_KEY` is 401."""
    response = await shop.client.request(method, path, headers=headers, json={})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_create_seller_and_product(shop: Shop) -> None:
    """Sellers and products come back with their id; products can be read back."""
    seller = await shop.seller("destination", fee_bps=150)
    product = await shop.product(unit_amount=1234, stock=7, seller=seller, currency="EUR")

    assert seller["charge_type"] == "destination"
    assert seller["fee_bps"] == 150
    assert uuid.UUID(seller["id"])
    fetched = await shop.client.get(f"/admin/products/{product['id']}", headers=shop.admin)
    assert fetched.status_code == 200
    body = fetched.json()
    assert (body["unit_amount"], body["currency"], body["stock"]) == (1234, "eur", 7)
    assert body["seller_id"] == seller["id"]


async def test_unlimited_stock_product(shop: Shop) -> None:
    """stock null means unlimited, and stays null after a sale."""
    product = await shop.product(stock=None)
    checkout = await shop.checkout(product, quantity=1000)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")

    verified = await shop.verify(checkout["session_id"])

    assert verified.json()["paid"] is True
    assert await shop.stock(product) is None
    assert (await shop.order(checkout["order_id"]))["status"] == "paid"


async def test_duplicate_seller_account_is_a_conflict(shop: Shop, db) -> None:
    """One seller per connected account: a second one is a 409 conflict and is not stored."""
    seller = await shop.seller()
    response = await shop.client.post(
        "/admin/sellers",
        json={
            "name": "again",
            "stripe_account_id": seller["stripe_account_id"],
            "charge_type": "direct",
            "fee_bps": 0,
        },
        headers=shop.admin,
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "seller_exists"
    assert await db.fetchval("SELECT count(*) FROM sellers") == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "stripe_account_id": "not-an-account", "charge_type": "direct", "fee_bps": 1},
        {"name": "x", "stripe_account_id": "acct_1", "charge_type": "separate", "fee_bps": 1},
        {"name": "x", "stripe_account_id": "acct_1", "charge_type": "direct", "fee_bps": 10001},
        {"name": "", "stripe_account_id": "acct_1", "charge_type": "direct", "fee_bps": 1},
    ],
)
async def test_invalid_seller_is_422(shop: Shop, body) -> None:
    """Bad seller input is refused with a message."""
    response = await shop.client.post("/admin/sellers", json=body, headers=shop.admin)

    assert response.status_code == 422
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "unit_amount": -1, "currency": "usd"},
        {"name": "x", "unit_amount": 10.5, "currency": "usd"},
        {"name": "x", "unit_amount": "100", "currency": "usd"},
        {"name": "x", "unit_amount": 100, "currency": "dollars"},
        {"name": "x", "unit_amount": 100, "currency": "usd", "stock": -1},
        {"name": "x", "unit_amount": 100, "currency": "usd", "seller_id": str(uuid.uuid4())},
    ],
)
async def test_invalid_product_is_422(shop: Shop, body) -> None:
    """Money is an integer of minor units; stock is never negative; the seller must exist."""
    response = await shop.client.post("/admin/products", json=body, headers=shop.admin)

    assert response.status_code == 422
    assert response.json()["error"]["message"]


@pytest.mark.parametrize(
    "currency",
    ["qqq", "xxx", "XTS", "xau", "xdr", "usn", "Usd", "us"],
    ids=["made up", "no currency", "testing", "gold", "SDR", "fund", "mixed case", "short"],
)
async def test_a_currency_iso_4217_does_not_list_as_money_is_refused(
    shop: Shop, db, currency
) -> None:
    """Only codes of real currencies (ISO 4217, with a minor unit) price a product."""
    response = await shop.client.post(
        "/admin/products",
        json={"name": "x", "unit_amount": 100, "currency": currency},
        headers=shop.admin,
    )

    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_request",
        "message": "currency: must be the ISO 4217 code of a currency, in lower or upper case,"
        " such as usd",
    }
    assert await db.fetchval("SELECT count(*) FROM products") == 0


@pytest.mark.parametrize("currency", ["usd", "EUR", "jpy", "XOF", "chf"])
async def test_real_currencies_are_taken_in_lower_case(shop: Shop, currency) -> None:
    """Any currency in ISO 4217's table, zero-decimal and X-coded ones included, is stored lower."""
    product = await shop.product(currency=currency)

    assert product["currency"] == currency.lower()


async def test_the_schema_lists_the_currencies_accepted(shop: Shop) -> None:
    """The OpenAPI schema's enum is exactly what the route takes, so clients can check first."""
    schema = (await shop.client.get("/openapi.json")).json()["components"]["schemas"]

    accepted = schema["ProductIn"]["properties"]["currency"]["enum"]
    assert {"usd", "USD", "eur", "jpy"} <= set(accepted)
    assert not {"xxx", "XXX", "xts", "xau", "usn", "Usd"} & set(accepted)


async def test_unknown_product_is_404(shop: Shop) -> None:
    """An id that is not in the catalog is a 404 not_found, even with other products there."""
    await shop.product()
    response = await shop.client.get(f"/admin/products/{uuid.uuid4()}", headers=shop.admin)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_unknown_seller_of_a_product_is_named(shop: Shop, db) -> None:
    """A product for a seller that does not exist is 422 unknown_seller and is not created."""
    response = await shop.client.post(
        "/admin/products",
        json={"name": "x", "unit_amount": 100, "currency": "usd", "seller_id": str(uuid.uuid4())},
        headers=shop.admin,
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_seller"
    assert await db.fetchval("SELECT count(*) FROM products") == 0


@pytest.mark.parametrize("name", ["Ticket\u0000", "\ud800Ticket", "Tick\u001bet", "Ticket\u0085"])
@pytest.mark.parametrize("path", ["/admin/sellers", "/admin/products"])
async def test_control_characters_in_names_are_refused(shop: Shop, db, path, name) -> None:
    """NUL, lone surrogates and other control characters are a 422 at the edge, never a 500."""
    bodies = {
        "/admin/sellers": {"stripe_account_id": "acct_1", "charge_type": "direct", "fee_bps": 0},
        "/admin/products": {"unit_amount": 100, "currency": "usd"},
    }
    body = json.dumps({"name": name, **bodies[path]}).encode()

    response = await shop.client.post(
        path, content=body, headers={**shop.admin, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith("name: must not contain control characters")
    assert await db.fetchval("SELECT count(*) FROM sellers") == 0
    assert await db.fetchval("SELECT count(*) FROM products") == 0


async def test_whole_numbers_written_with_a_fraction_are_integers(shop: Shop) -> None:
    """JSON Schema's integer includes 2500.0; strings and real fractions stay refused."""
    response = await shop.client.post(
        "/admin/products",
        json={"name": "x", "unit_amount": 2500.0, "currency": "usd", "stock": 3.0},
        headers=shop.admin,
    )

    assert response.status_code == 201, response.text
    assert (response.json()["unit_amount"], response.json()["stock"]) == (2500, 3)
