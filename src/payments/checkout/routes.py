"""Checkout routes: start a checkout, and verify it when the buyer returns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from payments.bodies import JsonBodyRoute
from payments.checkout import service
from payments.checkout.schemas import CheckoutIn, CheckoutOut, VerifyOut
from payments.deps import DatabaseDep, ProviderDep, SettingsDep
from payments.errors import (
    JSON_BODY_ERRORS,
    AmountTooLarge,
    CheckoutRefused,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidRequest,
    MixedCurrencies,
    MixedSellers,
    NotFound,
    OutOfStock,
    ProviderError,
    ServiceUnavailable,
    UnknownProduct,
    responses,
)
from payments.inputs import IdempotencyKey, Pattern

router = APIRouter(prefix="/checkout", tags=["checkout"], route_class=JsonBodyRoute)

SessionId = Annotated[
    str, Pattern(r"[A-Za-z0-9_]{1,255}", "a Checkout Session id, such as cs_test_a1B2c3")
]


@router.post(
    "/sessions",
    status_code=201,
    response_model=CheckoutOut,
    responses=responses(
        *JSON_BODY_ERRORS,
        UnknownProduct,
        MixedSellers,
        MixedCurrencies,
        IdempotencyKeyReused,
        AmountTooLarge,
        OutOfStock,
        IdempotencyKeyInUse,
        ProviderError,
        CheckoutRefused,
        ServiceUnavailable,
    ),
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


@router.get(
    "/verify",
    response_model=VerifyOut,
    responses=responses(InvalidRequest, NotFound, ProviderError, ServiceUnavailable),
)
async def verify_checkout(
    database: DatabaseDep, provider: ProviderDep, session_id: Annotated[SessionId, Query()]
) -> VerifyOut:
    """Ask the provider about the session and confirm the order exactly like a webhook would."""
    return await service.verify_checkout(database, provider, session_id)
