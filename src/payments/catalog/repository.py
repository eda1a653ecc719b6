"""Catalog reads shared by the admin API and checkout."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import Product


async def products_by_id(session: AsyncSession, ids: Iterable[uuid.UUID]) -> list[Product]:
    rows = await session.execute(
        select(Product).where(Product.id.in_(list(ids))).order_by(Product.id)
    )
    return list(rows.scalars())
