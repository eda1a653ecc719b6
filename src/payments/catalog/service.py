"""Catalog: sellers (Stripe connected accounts) and products."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from payments.catalog.schemas import ProductIn, SellerIn
from payments.db import Database
from payments.errors import NotFound, SellerExists, UnknownSeller
from payments.models import Product, Seller


async def create_seller(database: Database, data: SellerIn) -> Seller:
    seller = Seller(**data.model_dump())
    try:
        async with database.transaction() as session:
            session.add(seller)
    except IntegrityError:
        raise SellerExists(f"a seller with account {data.stripe_account_id} exists") from None
    return seller


async def create_product(database: Database, data: ProductIn) -> Product:
    product = Product(**data.model_dump())
    async with database.transaction() as session:
        if data.seller_id is not None and await session.get(Seller, data.seller_id) is None:
            raise UnknownSeller(f"seller_id: no seller {data.seller_id}")
        session.add(product)
    return product


async def get_product(database: Database, product_id: uuid.UUID) -> Product:
    async with database.reading() as session:
        product = await session.get(Product, product_id)
    if product is None:
        raise NotFound(f"no product {product_id}")
    return product
