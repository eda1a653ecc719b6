"""Sellers, products and pending orders written straight into the database.

The rows are the ones `POST /checkout/sessions` would leave once Stripe created the
session (src/payments/checkout/service.py, models.py): status `pending`,
`provider_session_id` and `checkout_url` set, `amount_total = sum(unit_amount * qty)`,
currency `usd`, the seller's `charge_type`, a fee of `fee_bps` and therefore no
promotion codes. Half the orders are platform orders (a destination-charge seller:
`provider_account` NULL, events on /webhooks/stripe), half Connect direct charges
(`provider_account` = the seller's account, events on /webhooks/stripe/connect).

Most products have limited stock, more than the orders take, so a pass can check that
stock went down by exactly what was sold and no order is refused as out of stock.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass

import asyncpg

CURRENCY = "usd"
SELLERS_PER_KIND = 4
PRODUCTS_PER_SELLER = 25
UNLIMITED_EVERY = 5  # every 5th product has no stock limit (stock NULL)
SPARE_STOCK = 7  # left on each limited product once every order is paid
DESTINATION_FEE_BPS = 500
DIRECT_FEE_BPS = 1000


@dataclass(frozen=True)
class Seller:
    id: uuid.UUID
    account: str
    charge_type: str  # "direct" or "destination"
    fee_bps: int


@dataclass(frozen=True)
class Product:
    id: uuid.UUID
    seller: Seller
    name: str
    unit_amount: int
    limited: bool


@dataclass(frozen=True)
class Order:
    """A pending order and everything its `checkout.session.completed` event carries."""

    id: uuid.UUID
    seller: Seller
    items: tuple[tuple[Product, int], ...]  # (product, quantity), sorted by product id
    session_id: str
    payment_intent: str
    event_id: str

    @property
    def amount_total(self) -> int:
        return sum(product.unit_amount * quantity for product, quantity in self.items)

    @property
    def account(self) -> str | None:
        """The connected account the session lives on: direct charges only."""
        return self.seller.account if self.seller.charge_type == "direct" else None


@dataclass(frozen=True)
class Catalog:
    sellers: list[Seller]
    products: list[Product]


def _stripe_id(prefix: str, length: int = 24) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def make_catalog(rng: random.Random) -> Catalog:
    """Destination sellers (platform orders) and direct sellers (Connect orders)."""
    sellers = [
        Seller(uuid.uuid4(), _stripe_id("acct_", 16), kind, fee)
        for kind, fee in (("destination", DESTINATION_FEE_BPS), ("direct", DIRECT_FEE_BPS))
        for _ in range(SELLERS_PER_KIND)
    ]
    products = [
        Product(
            id=uuid.uuid4(),
            seller=seller,
            name=f"Bench product {n}",
            unit_amount=rng.randrange(500, 10_000, 50),
            limited=n % UNLIMITED_EVERY != 0,
        )
        for seller in sellers
        for n in range(PRODUCTS_PER_SELLER)
    ]
    return Catalog(sellers, products)


def make_orders(catalog: Catalog, count: int, rng: random.Random) -> list[Order]:
    """`count` orders, alternating platform and Connect, of 1-3 products of one seller."""
    by_seller = {
        seller.id: [p for p in catalog.products if p.seller is seller] for seller in catalog.sellers
    }
    platform = [s for s in catalog.sellers if s.charge_type == "destination"]
    connect = [s for s in catalog.sellers if s.charge_type == "direct"]
    orders = []
    for n in range(count):
        seller = rng.choice(platform if n % 2 == 0 else connect)
        picked = rng.sample(by_seller[seller.id], rng.randint(1, 3))
        items = tuple(sorted(((p, rng.randint(1, 2)) for p in picked), key=lambda i: i[0].id))
        orders.append(
            Order(
                id=uuid.uuid4(),
                seller=seller,
                items=items,
                session_id=_stripe_id("cs_test_a1", 56),
                payment_intent=_stripe_id("pi_"),
                event_id=_stripe_id("evt_"),
            )
        )
    return orders


def sold(orders: list[Order]) -> Counter[uuid.UUID]:
    """Units of each limited product the orders take once paid."""
    units: Counter[uuid.UUID] = Counter()
    for order in orders:
        for product, quantity in order.items:
            if product.limited:
                units[product.id] += quantity
    return units


async def insert_catalog(conn: asyncpg.Connection, catalog: Catalog, orders: list[Order]) -> None:
    """Sellers and products; each limited product holds what `orders` take plus a spare."""
    needed = sold(orders)
    await conn.copy_records_to_table(
        "sellers",
        columns=["id", "name", "stripe_account_id", "charge_type", "fee_bps"],
        records=[
            (s.id, f"Bench seller {s.account}", s.account, s.charge_type, s.fee_bps)
            for s in catalog.sellers
        ],
    )
    await conn.copy_records_to_table(
        "products",
        columns=["id", "name", "unit_amount", "currency", "stock", "seller_id"],
        records=[
            (
                p.id,
                p.name,
                p.unit_amount,
                CURRENCY,
                needed[p.id] + SPARE_STOCK if p.limited else None,
                p.seller.id,
            )
            for p in catalog.products
        ],
    )


def application_fee(amount: int, fee_bps: int) -> int:
    """As the service computes it (checkout/service.py): half up, integers only."""
    return (amount * fee_bps + 5_000) // 10_000


async def insert_orders(conn: asyncpg.Connection, orders: list[Order]) -> None:
    """The pending orders and their items, as `start_checkout` leaves them."""
    records = []
    for order in orders:
        fee = application_fee(order.amount_total, order.seller.fee_bps)
        fingerprint = hashlib.sha256(order.id.bytes).hexdigest()
        records.append(
            (
                order.id,
                "pending",
                order.seller.id,
                order.seller.charge_type,
                order.account,
                CURRENCY,
                order.amount_total,
                fee,
                fee == 0,  # promotion codes only without a fee
                f"buyer-{order.id.hex[:8]}@example.com",
                order.session_id,
                f"https://checkout.stripe.com/c/pay/{order.session_id}",
                str(uuid.uuid4()),
                fingerprint,
            )
        )
    await conn.copy_records_to_table(
        "orders",
        columns=[
            "id",
            "status",
            "seller_id",
            "charge_type",
            "provider_account",
            "currency",
            "amount_total",
            "application_fee_amount",
            "allow_promotion_codes",
            "customer_email",
            "provider_session_id",
            "checkout_url",
            "idempotency_key",
            "request_fingerprint",
        ],
        records=records,
    )
    await conn.copy_records_to_table(
        "order_items",
        columns=["order_id", "product_id", "name", "quantity", "unit_amount"],
        records=[
            (order.id, product.id, product.name, quantity, product.unit_amount)
            for order in orders
            for product, quantity in order.items
        ],
    )


# History for the growth part: paid, expired, failed and abandoned orders with their
# items and, for the paid ones, their webhook events, as months of trading would leave
# them. Generated in SQL so that 100k orders take seconds. Stock is left as it is.
_FILL_HISTORY = """
WITH catalog AS (
    SELECT array_agg(p.id ORDER BY p.id) AS ids FROM products p
), made AS (
    SELECT g, gen_random_uuid() AS id, c.ids[1 + g % array_length(c.ids, 1)] AS product_id,
           1 + g % 2 AS quantity,
           (ARRAY['paid','paid','paid','paid','paid','paid','paid',
                  'expired','failed','pending'])[1 + g % 10] AS status,
           now() - make_interval(mins => g) AS created
    FROM generate_series(1, $1) AS g, catalog c
), orders_made AS (
    INSERT INTO orders (
        id, status, seller_id, charge_type, provider_account, currency, amount_total,
        application_fee_amount, allow_promotion_codes, amount_paid, customer_email,
        provider_session_id, checkout_url, provider_payment_id, confirmed_via,
        cancel_reason, idempotency_key, request_fingerprint, created_at, updated_at, paid_at)
    SELECT m.id, m.status, s.id, s.charge_type,
           CASE WHEN s.charge_type = 'direct' THEN s.stripe_account_id END,
           'usd', p.unit_amount * m.quantity,
           (p.unit_amount * m.quantity * s.fee_bps + 5000) / 10000, false,
           CASE WHEN m.status = 'paid' THEN p.unit_amount * m.quantity END,
           'history-' || m.g || '@example.com',
           'cs_test_history_' || m.g || '_' || md5(m.id::text),
           'https://checkout.stripe.com/c/pay/cs_test_history_' || m.g,
           CASE WHEN m.status = 'paid' THEN 'pi_history_' || m.g END,
           CASE WHEN m.status = 'paid' THEN 'webhook' END,
           NULL,
           m.id::text, md5(m.g::text), m.created, m.created,
           CASE WHEN m.status = 'paid' THEN m.created END
    FROM made m JOIN products p ON p.id = m.product_id JOIN sellers s ON s.id = p.seller_id
    RETURNING id, status, provider_account
), items_made AS (
    INSERT INTO order_items (order_id, product_id, name, quantity, unit_amount)
    SELECT m.id, p.id, p.name, m.quantity, p.unit_amount
    FROM made m JOIN products p ON p.id = m.product_id
)
INSERT INTO webhook_events (provider, event_id, endpoint, type, account, livemode, outcome,
                            received_at)
SELECT 'stripe', 'evt_history_' || md5(o.id::text),
       CASE WHEN o.provider_account IS NULL THEN 'platform' ELSE 'connect' END,
       'checkout.session.completed', o.provider_account, false, 'paid', now()
FROM orders_made o WHERE o.status = 'paid'
"""


async def fill_history(conn: asyncpg.Connection, count: int) -> int:
    """Add `count` past orders (70% paid); returns how many webhook events that recorded."""
    await conn.execute(_FILL_HISTORY, count)
    return int(await conn.fetchval("SELECT count(*) FROM webhook_events"))


async def settle(conn: asyncpg.Connection) -> None:
    """VACUUM and ANALYZE what was just written, as autovacuum soon would on a live database.

    Otherwise autovacuum wakes up during the timed pass to vacuum the rows the setup
    inserted (the more history, the longer), and the pass measures it too.
    """
    await conn.execute("VACUUM (ANALYZE) sellers, products, orders, order_items, webhook_events")
