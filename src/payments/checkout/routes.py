"""Checkout routes: start a checkout, and verify it when the buyer returns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query

from payments.checkout import service
from payments.checkout.schemas import CheckoutIn, CheckoutOut, VerifyOut
from payments.deps import DatabaseDep, ProviderDep, SettingsDep
from payments.errors import (
    IdempotencyKeyInUse,
    InvalidRequest,
    NotFound,
    OutOfStock,
    ProviderError,
    responses,
)

router = APIRouter(prefix="/checkout", tags=["checkout"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retrying with the same key returns the same order and session.",
    ),
]


@router.post(
    "/sessions",
    status_code=201,
    response_model=CheckoutOut,
    responses=responses(InvalidRequest, OutOfStock, IdempotencyKeyInUse, ProviderError),
)
async def create_checkout_session(
    body: CheckoutIn,
    database: DatabaseDep,
    provider: ProviderDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> CheckoutOut:
    """Create a pending order priced from the catalog and a hosted Checkout Session for it."""
    return await service.start_checkout(database, provider, settings, body, idempotency_key)


@router.get("/verify", response_model=VerifyOut, responses=responses(NotFound, ProviderError))
async def verify_checkout(
    database: DatabaseDep,
    provider: ProviderDep,
    session_id: Annotated[str, Query(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_]+$")],
) -> VerifyOut:
    """Ask the provider about the session and confirm the order exactly like a webhook would."""
    return await service.verify_checkout(database, provider, session_id)
