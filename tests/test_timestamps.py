"""Every date and time the API returns is UTC in one format, on Postgres and on SQLite."""

from __future__ import annotations

import re
import sqlite3
import types
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, get_args, get_origin

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from payments.app import create_app
from payments.migrate import upgrade
from payments.sandbox.stripe_server import FakeStripe
from payments.timestamps import Timestamp
from tests.conftest import ADMIN_KEY, make_settings, truncate_all

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
TIMESTAMP_METADATA = get_args(Timestamp)[1:]


def _untyped_datetimes(annotation: Any, metadata: tuple[Any, ...], where: str) -> list[str]:
    """Paths of datetime leaves under `annotation` that are not `Timestamp`."""
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return _untyped_datetimes(base, (*metadata, *extra), where)
    if annotation is datetime:
        return [] if all(m in metadata for m in TIMESTAMP_METADATA) else [where]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [
            path
            for name, field in annotation.model_fields.items()
            for path in _untyped_datetimes(
                field.annotation, tuple(field.metadata), f"{where}.{name}"
            )
        ]
    if get_origin(annotation) in (typing.Union, types.UnionType, list, tuple, dict):
        return [p for arg in get_args(annotation) for p in _untyped_datetimes(arg, (), where)]
    return []


def test_every_datetime_in_a_response_is_a_timestamp() -> None:
    """A response field typed plain `datetime` (database-dependent output) fails here."""
    found, checked = [], []
    for context in iter_route_contexts(create_app().routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.response_model is not None:
            checked.append(route.path)
            found += _untyped_datetimes(route.response_model, (), route.path)

    assert {"/admin/sellers", "/admin/products", "/admin/orders/{order_id}"} <= set(checked)
    assert found == []


def test_the_walk_finds_a_plain_datetime() -> None:
    """The check above would catch a nested, optional plain datetime."""

    class Refund(BaseModel):
        at: datetime | None
        ok_at: Timestamp

    class Out(BaseModel):
        refunds: list[Refund]

    assert _untyped_datetimes(Out, (), "out") == ["out.refunds.at"]


@asynccontextmanager
async def service(url: str, stripe_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(url, stripe_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=ADMIN) as c:
            yield c


@pytest.fixture(params=["postgres", "sqlite"])
async def backend(request, database_url, tmp_path) -> tuple[str, str]:
    if request.param == "postgres":
        await truncate_all(database_url)
        return "postgres", database_url
    url = f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}"
    await upgrade(url)
    return "sqlite", url


async def stored(backend: tuple[str, str], sql: str) -> list[datetime]:
    """The column as the database holds it, read without the service."""
    kind, url = backend
    if kind == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///")) as conn:
            return [datetime.fromisoformat(value) for (value,) in conn.execute(sql)]
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        return [row[0] for row in await conn.fetch(sql)]
    finally:
        await conn.close()


def in_utc(value: datetime) -> str:
    """What the API must say for a stored value: a naive one (SQLite) is UTC."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_timestamps_are_utc_in_one_format_on_every_database(
    backend, stripe_url: str, fake_stripe: FakeStripe
) -> None:
    """Sellers', products' and orders' times (paid_at included) read `...T..:..:...ffffffZ`,
    the stored instant in UTC, on Postgres and on SQLite alike."""
    fake_stripe.reset()
    async with service(backend[1], stripe_url) as client:
        seller = (
            await client.post(
                "/admin/sellers",
                json={
                    "name": "S",
                    "stripe_account_id": "acct_times",
                    "charge_type": "destination",
                    "fee_bps": 0,
                },
            )
        ).json()
        product = (
            await client.post(
                "/admin/products",
                json={
                    "name": "P",
                    "unit_amount": 500,
                    "currency": "usd",
                    "seller_id": seller["id"],
                },
            )
        ).json()
        checkout = (
            await client.post(
                "/checkout/sessions", json={"items": [{"product_id": product["id"], "quantity": 1}]}
            )
        ).json()
        fake_stripe.complete_session(checkout["session_id"], outcome="paid")
        verified = await client.get(
            "/checkout/verify", params={"session_id": checkout["session_id"]}
        )
        order = (await client.get(f"/admin/orders/{checkout['order_id']}")).json()
        listed = (await client.get("/admin/orders")).json()["data"][0]

    assert verified.json()["paid"] is True
    shown = {
        "seller.created_at": seller["created_at"],
        "product.created_at": product["created_at"],
        "order.created_at": order["created_at"],
        "order.updated_at": order["updated_at"],
        "order.paid_at": order["paid_at"],
    }
    assert {k: v for k, v in shown.items() if not RFC3339_UTC.fullmatch(v)} == {}
    assert shown == {
        "seller.created_at": in_utc((await stored(backend, "SELECT created_at FROM sellers"))[0]),
        "product.created_at": in_utc((await stored(backend, "SELECT created_at FROM products"))[0]),
        "order.created_at": in_utc((await stored(backend, "SELECT created_at FROM orders"))[0]),
        "order.updated_at": in_utc((await stored(backend, "SELECT updated_at FROM orders"))[0]),
        "order.paid_at": in_utc((await stored(backend, "SELECT paid_at FROM orders"))[0]),
    }
    assert {listed[k] for k in ("created_at", "updated_at", "paid_at")} == {
        order["created_at"],
        order["updated_at"],
        order["paid_at"],
    }
