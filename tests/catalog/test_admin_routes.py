"""Admin API: bearer key, sellers, products."""

from __future__ import annotations

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
    assert response.json()["error"]["code"] == "conflict"
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


async def test_unknown_product_is_404(shop: Shop) -> None:
    """An id that is not in the catalog is a 404 not_found, even with other products there."""
    await shop.product()
    response = await shop.client.get(f"/admin/products/{uuid.uuid4()}", headers=shop.admin)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
