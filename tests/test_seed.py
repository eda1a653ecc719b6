"""The demo catalog: what it creates, and that running it again changes nothing."""

from __future__ import annotations

from typing import Any

import asyncpg

from payments.seed import seed_demo_catalog
from tests.conftest import Shop

EXPECTED = [
    # (name, unit_amount, currency, stock, seller_type), as GET /products orders them
    ("Concert ticket", 4500, "usd", 50, "destination"),
    ("Handmade mug", 1800, "usd", None, "direct"),
    ("Last workshop seat", 9900, "usd", 1, None),
    ("Payments T-shirt", 2500, "usd", 100, None),
]


async def listing(shop: Shop) -> list[tuple[Any, ...]]:
    data = (await shop.client.get("/products")).json()["data"]
    return [
        (p["name"], p["unit_amount"], p["currency"], p["stock"], p["seller_type"]) for p in data
    ]


async def test_seed_creates_the_demo_catalog(shop: Shop, app: Any) -> None:
    """A platform product, a direct and a destination seller's product, and a last unit."""
    created = await seed_demo_catalog(app.state.database)

    assert created == 4
    assert await listing(shop) == EXPECTED


async def test_seed_creates_the_demo_sellers(app: Any, db: asyncpg.Connection) -> None:
    """The Connect sellers carry the account ids and fees the demo documents."""
    await seed_demo_catalog(app.state.database)

    rows = await db.fetch(
        "SELECT stripe_account_id, charge_type, fee_bps FROM sellers ORDER BY stripe_account_id"
    )

    assert [tuple(r) for r in rows] == [
        ("acct_demo_destination", "destination", 500),
        ("acct_demo_direct", "direct", 1000),
    ]


async def test_seed_twice_creates_nothing_new(shop: Shop, app: Any, db: asyncpg.Connection) -> None:
    """Running at every start-up is safe: the second run inserts no row."""
    await seed_demo_catalog(app.state.database)

    again = await seed_demo_catalog(app.state.database)

    assert again == 0
    assert await db.fetchval("SELECT count(*) FROM products") == 4
    assert await db.fetchval("SELECT count(*) FROM sellers") == 2
    assert await listing(shop) == EXPECTED


async def test_seed_never_restocks_what_was_sold(
    shop: Shop, app: Any, db: asyncpg.Connection
) -> None:
    """Existing rows are left alone, so the last seat, once sold, stays sold after a restart."""
    await seed_demo_catalog(app.state.database)
    await db.execute("UPDATE products SET stock = 0 WHERE name = 'Last workshop seat'")

    await seed_demo_catalog(app.state.database)

    assert await db.fetchval("SELECT stock FROM products WHERE name = 'Last workshop seat'") == 0


async def test_seed_uses_a_demo_account_an_admin_already_added(
    shop: Shop, app: Any, db: asyncpg.Connection
) -> None:
    """If the demo account exists under another id, its products attach to that seller."""
    existing = await db.fetchval(
        "INSERT INTO sellers (id, name, stripe_account_id, charge_type, fee_bps)"
        " VALUES (gen_random_uuid(), 'Mine', 'acct_demo_direct', 'direct', 300) RETURNING id"
    )

    assert await seed_demo_catalog(app.state.database) == 4

    assert await db.fetchval("SELECT count(*) FROM sellers") == 2
    mug_seller = await db.fetchval("SELECT seller_id FROM products WHERE name = 'Handmade mug'")
    assert mug_seller == existing


async def test_seeded_products_can_be_bought(shop: Shop, app: Any) -> None:
    """Each demo product starts a checkout; the direct seller's lives on its own account."""
    await seed_demo_catalog(app.state.database)
    products = {p["name"]: p for p in (await shop.client.get("/products")).json()["data"]}

    orders = {name: await shop.checkout(p) for name, p in products.items()}

    mug = await shop.order(orders["Handmade mug"]["order_id"])
    assert mug["status"] == "pending"
    [session] = [r for r in shop.fake.requests if r.account == "acct_demo_direct"]
    assert session.method == "POST"
