"""GET /products: the storefront's public listing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from tests.conftest import Shop


async def product(shop: Shop, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "unit_amount": 1000, "currency": "usd", **fields}
    response = await shop.client.post("/admin/products", json=body, headers=shop.admin)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_lists_products_without_authentication(shop: Shop) -> None:
    """Buyers see each product's price, currency and stock, and nothing admin-only."""
    created = await product(shop, "Ticket", unit_amount=2500, currency="EUR", stock=7)

    response = await shop.client.get("/products")

    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "id": created["id"],
                "name": "Ticket",
                "unit_amount": 2500,
                "currency": "eur",
                "stock": 7,
                "seller_type": None,
                "seller_name": None,
            }
        ]
    }


async def test_unlimited_stock_is_null(shop: Shop) -> None:
    """A product without a stock limit says null, not 0 (which means sold out)."""
    await product(shop, "E-book", stock=None)
    await product(shop, "Sold out poster", stock=0)

    data = (await shop.client.get("/products")).json()["data"]

    assert [(p["name"], p["stock"]) for p in data] == [("E-book", None), ("Sold out poster", 0)]


async def test_ordered_by_name_then_id(shop: Shop) -> None:
    """The order is stable: by name, and by id between products of the same name."""
    zebra = await product(shop, "Zebra")
    apples = [await product(shop, "Apple") for _ in range(3)]

    data = (await shop.client.get("/products")).json()["data"]

    assert [p["id"] for p in data] == [*sorted(p["id"] for p in apples), zebra["id"]]


async def test_seller_type_tells_how_the_seller_is_paid(shop: Shop) -> None:
    """Platform products have no seller type; sellers' products say direct or destination."""
    await product(shop, "A platform", seller_id=None)
    await product(shop, "B direct", seller_id=(await shop.seller("direct"))["id"])
    await product(shop, "C destination", seller_id=(await shop.seller("destination"))["id"])

    data = (await shop.client.get("/products")).json()["data"]

    assert [p["seller_type"] for p in data] == [None, "direct", "destination"]


async def test_seller_name_says_who_sells_it(shop: Shop) -> None:
    """Buyers see the seller's name on a seller's product, and none on the platform's own."""
    seller = await shop.seller("destination")
    await product(shop, "A platform")
    await product(shop, "B marketplace", seller_id=seller["id"])

    data = (await shop.client.get("/products")).json()["data"]

    assert [p["seller_name"] for p in data] == [None, "Seller destination"]


async def test_empty_catalog_is_an_empty_list(shop: Shop) -> None:
    """No products is a normal answer, not an error."""
    response = await shop.client.get("/products")

    assert response.status_code == 200
    assert response.json() == {"data": []}


async def test_listing_is_one_query_however_many_sellers(shop: Shop, app: Any) -> None:
    """Sellers are joined, not fetched per product (no N+1 as the catalog grows)."""
    for charge_type in ("direct", "destination", "direct"):
        await product(shop, charge_type, seller_id=(await shop.seller(charge_type))["id"])
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = app.state.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = await shop.client.get("/products")
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert len(response.json()["data"]) == 3
    assert [s.split()[0] for s in statements if not s.startswith("select pg_")] == ["SELECT"]


async def test_listing_is_documented_in_openapi(shop: Shop) -> None:
    """The schema shows the response shape, so frontends can generate their client."""
    schema = (await shop.client.get("/openapi.json")).json()

    operation = schema["paths"]["/products"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/PublicProductList")
    fields = schema["components"]["schemas"]["PublicProduct"]["properties"]
    assert set(fields) == {
        "id",
        "name",
        "unit_amount",
        "currency",
        "stock",
        "seller_type",
        "seller_name",
    }
    assert "security" not in operation
