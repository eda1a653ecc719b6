"""The public catalog: what a storefront lists. No authentication, no admin fields."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from payments.db import Database
from payments.deps import DatabaseDep
from payments.errors import ServiceUnavailable, responses
from payments.models import ChargeType, Product, Seller

router = APIRouter(tags=["catalog"])


class PublicProduct(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    unit_amount: int = Field(description="Price in minor units of `currency` (cents for usd)")
    currency: str = Field(description="ISO 4217 code, lower case", examples=["usd"])
    stock: int | None = Field(description="Units left; null: unlimited")
    seller_type: ChargeType | None = Field(
        description="null: sold by the platform; else how the seller is paid (Stripe Connect)"
    )
    seller_name: str | None = Field(
        description="The seller's name, to show buyers who they buy from; null: the platform"
    )


class PublicProductList(BaseModel):
    data: list[PublicProduct]


async def list_public_products(database: Database) -> list[PublicProduct]:
    """Every product, ordered by name then id (stable for equal names), in one query."""
    query = (
        select(
            Product.id,
            Product.name,
            Product.unit_amount,
            Product.currency,
            Product.stock,
            Seller.charge_type.label("seller_type"),
            Seller.name.label("seller_name"),
        )
        .outerjoin(Seller, Product.seller_id == Seller.id)
        .order_by(Product.name, Product.id)
    )
    async with database.reading() as session:
        rows = (await session.execute(query)).all()
    return [PublicProduct.model_validate(row) for row in rows]


@router.get("/products", response_model=PublicProductList, responses=responses(ServiceUnavailable))
async def list_products(database: DatabaseDep) -> PublicProductList:
    """The storefront's listing. Stock is a snapshot: it is taken only when a payment confirms."""
    return PublicProductList(data=await list_public_products(database))
