"""A demo catalog, so a fresh sandbox has something to buy.

It covers every path a buyer can take: a platform product, a direct-charge
seller and a destination-charge seller (Stripe Connect), and a product with one
unit left, for seeing the last unit sold twice end in a refund.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import Database, insert_for
from payments.models import ChargeType, Product, Seller

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DemoSeller:
    id: uuid.UUID
    name: str
    stripe_account_id: str
    charge_type: ChargeType
    fee_bps: int


@dataclass(frozen=True)
class DemoProduct:
    id: uuid.UUID
    name: str
    unit_amount: int  # minor units
    currency: str
    stock: int | None  # None: unlimited
    seller: DemoSeller | None = None


# Fixed ids make the seed idempotent: a second run conflicts and inserts nothing.
DIRECT_SELLER = DemoSeller(
    id=uuid.UUID("00000000-0000-4000-8000-00000000de01"),
    name="Clayworks Studio",
    stripe_account_id="acct_demo_direct",
    charge_type=ChargeType.DIRECT,
    fee_bps=1000,
)
DESTINATION_SELLER = DemoSeller(
    id=uuid.UUID("00000000-0000-4000-8000-00000000de02"),
    name="Riverside Live",
    stripe_account_id="acct_demo_destination",
    charge_type=ChargeType.DESTINATION,
    fee_bps=500,
)
DEMO_PRODUCTS = (
    DemoProduct(
        id=uuid.UUID("00000000-0000-4000-8000-00000000d001"),
        name="Payments T-shirt",
        unit_amount=2500,
        currency="usd",
        stock=100,
    ),
    DemoProduct(
        id=uuid.UUID("00000000-0000-4000-8000-00000000d002"),
        name="Handmade mug",
        unit_amount=1800,
        currency="usd",
        stock=None,
        seller=DIRECT_SELLER,
    ),
    DemoProduct(
        id=uuid.UUID("00000000-0000-4000-8000-00000000d003"),
        name="Concert ticket",
        unit_amount=4500,
        currency="usd",
        stock=50,
        seller=DESTINATION_SELLER,
    ),
    DemoProduct(
        id=uuid.UUID("00000000-0000-4000-8000-00000000d004"),
        name="Last workshop seat",
        unit_amount=9900,
        currency="usd",
        stock=1,
    ),
)


async def seed_demo_catalog(database: Database) -> int:
    """Create the demo sellers and products that are missing; return how many products it made.

    Idempotent and safe to run concurrently (e.g. several replicas starting):
    every row has a fixed id and is inserted with ON CONFLICT DO NOTHING, in one
    transaction. Existing rows are never changed, so stock already sold stays sold.
    """
    async with database.transaction() as session:
        seller_ids = {
            seller.stripe_account_id: await _ensure_seller(session, seller)
            for seller in (DIRECT_SELLER, DESTINATION_SELLER)
        }
        created = 0
        for product in DEMO_PRODUCTS:
            inserted = await session.execute(
                insert_for(session)(Product)
                .values(
                    id=product.id,
                    name=product.name,
                    unit_amount=product.unit_amount,
                    currency=product.currency,
                    stock=product.stock,
                    seller_id=seller_ids[product.seller.stripe_account_id]
                    if product.seller
                    else None,
                )
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(Product.id)
            )
            created += inserted.scalar_one_or_none() is not None
    log.info("seed.demo_catalog", products_created=created)
    return created


async def _ensure_seller(session: AsyncSession, seller: DemoSeller) -> uuid.UUID:
    """The seller's id, inserting it if missing.

    The account may already exist under another id (an admin created it), so the
    conflict is on any unique key and the id is read back by account.
    """
    await session.execute(
        insert_for(session)(Seller)
        .values(
            id=seller.id,
            name=seller.name,
            stripe_account_id=seller.stripe_account_id,
            charge_type=seller.charge_type.value,
            fee_bps=seller.fee_bps,
        )
        .on_conflict_do_nothing()
    )
    seller_id: uuid.UUID = (
        await session.execute(
            select(Seller.id).where(Seller.stripe_account_id == seller.stripe_account_id)
        )
    ).scalar_one()
    return seller_id
