"""Catalog API shapes: sellers and products."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from payments.models import ChargeType

Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z]{3}$", to_lower=True),
    Field(description="ISO 4217 code, e.g. usd", examples=["usd"]),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SellerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    stripe_account_id: Annotated[str, StringConstraints(pattern=r"^acct_[A-Za-z0-9_]{1,59}$")]
    charge_type: ChargeType
    fee_bps: Annotated[
        int, Field(strict=True, ge=0, le=10000, description="Platform fee in basis points")
    ]


class SellerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    stripe_account_id: str
    charge_type: ChargeType
    fee_bps: int
    created_at: datetime


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    unit_amount: Annotated[
        int, Field(strict=True, ge=0, le=99_999_999, description="Price in minor units")
    ]
    currency: Currency
    stock: Annotated[
        int | None, Field(strict=True, ge=0, le=1_000_000_000, description="null: unlimited")
    ] = None
    seller_id: uuid.UUID | None = None


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    unit_amount: int
    currency: str
    stock: int | None
    seller_id: uuid.UUID | None
    created_at: datetime
