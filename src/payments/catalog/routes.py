"""Admin routes for the catalog."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from payments.auth import AdminDep
from payments.bodies import JsonBodyRoute
from payments.catalog import service
from payments.catalog.schemas import ProductIn, ProductOut, SellerIn, SellerOut
from payments.deps import DatabaseDep
from payments.errors import (
    JSON_BODY_ERRORS,
    InvalidRequest,
    NotFound,
    SellerExists,
    ServiceUnavailable,
    Unauthorized,
    UnknownSeller,
    responses,
)

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[AdminDep], route_class=JsonBodyRoute
)


@router.post(
    "/sellers",
    status_code=201,
    response_model=SellerOut,
    responses=responses(*JSON_BODY_ERRORS, Unauthorized, SellerExists, ServiceUnavailable),
)
async def create_seller(body: SellerIn, database: DatabaseDep) -> SellerOut:
    return SellerOut.model_validate(await service.create_seller(database, body))


@router.post(
    "/products",
    status_code=201,
    response_model=ProductOut,
    responses=responses(*JSON_BODY_ERRORS, Unauthorized, UnknownSeller, ServiceUnavailable),
)
async def create_product(body: ProductIn, database: DatabaseDep) -> ProductOut:
    return ProductOut.model_validate(await service.create_product(database, body))


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    responses=responses(Unauthorized, NotFound, InvalidRequest, ServiceUnavailable),
)
async def get_product(product_id: uuid.UUID, database: DatabaseDep) -> ProductOut:
    return ProductOut.model_validate(await service.get_product(database, product_id))
