"""Catalog API shapes: sellers and products."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from payments.currencies import CURRENCY_CODE
from payments.inputs import VISIBLE_TEXT, WHOLE_NUMBER, Pattern
from payments.models import ChargeType
from payments.timestamps import Timestamp

Currency = Annotated[
    str,
    CURRENCY_CODE,
    AfterValidator(str.lower),
    Field(description="ISO 4217 code of a currency, lower or upper case", examples=["usd"]),
]
# Taken as sent (no stripping), so that the schema can say exactly what is accepted.
Name = Annotated[str, Field(max_length=200), VISIBLE_TEXT]
StripeAccountId = Annotated[
    str, Pattern(r"acct_[A-Za-z0-9_]{1,59}", "a Stripe account id, such as acct_1Nv0FGQ9RKHgCVdK")
]


class SellerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    stripe_account_id: StripeAccountId
    charge_type: ChargeType
    fee_bps: Annotated[
        int,
        Field(strict=True, ge=0, le=10000, description="Platform fee in basis points"),
        WHOLE_NUMBER,
    ]


class SellerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    stripe_account_id: str
    charge_type: ChargeType
    fee_bps: int
    created_at: Timestamp


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    unit_amount: Annotated[
        int,
        Field(strict=True, ge=0, le=99_999_999, description="Price in minor units"),
        WHOLE_NUMBER,
    ]
    currency: Currency
    stock: Annotated[
        Annotated[int, Field(strict=True, ge=0, le=1_000_000_000), WHOLE_NUMBER] | None,
        Field(description="null: unlimited"),
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
    created_at: Timestamp
