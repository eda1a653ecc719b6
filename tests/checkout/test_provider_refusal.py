"""Stripe refusing a checkout for good versus failing for a moment: a refusal ends the order
`failed` and is answered as such (asking again cannot help); a transient failure leaves the
order to a retry with the same Idempotency-Key. Through the real SDK to the sandbox Stripe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from payments.app import create_app
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import Shop, make_settings

SESSIONS = "/v1/checkout/sessions"


def session_calls(shop: Shop) -> int:
    """How many times the service asked Stripe to create a Checkout Session."""
    return sum(1 for r in shop.fake.requests if r.method == "POST" and r.path == SESSIONS)


def refuse_next_session(shop: Shop) -> None:
    """Stripe's answer to a charge below its minimum: a 400 invalid_request_error."""
    shop.fake.fail_next(
        1,
        status=400,
        error_type="invalid_request_error",
        code="amount_too_small",
        path_prefix=SESSIONS,
    )


async def post_checkout(shop: Shop, product: dict[str, Any], **headers: str) -> Any:
    return await shop.client.post(
        "/checkout/sessions",
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
        headers=headers,
    )


async def test_refused_checkout_ends_the_order_failed_with_a_distinct_code(shop: Shop, db) -> None:
    """A 400 from Stripe: 422 provider_rejected that says retrying will not help; order failed."""
    product = await shop.product(stock=3)
    refuse_next_session(shop)

    response = await post_checkout(shop, product, **{"Idempotency-Key": "cart-1"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "provider_rejected"
    assert "retrying will not help" in error["message"]
    row = await db.fetchrow("SELECT status, cancel_reason FROM orders")
    assert (row["status"], row["cancel_reason"]) == ("failed", "provider_rejected")
    assert await shop.stock(product) == 3


async def test_retry_of_a_refused_checkout_answers_the_same_without_asking_stripe(
    shop: Shop, db
) -> None:
    """The same key again gets the same 422 from the order's state; Stripe is not called."""
    product = await shop.product()
    refuse_next_session(shop)
    first = await post_checkout(shop, product, **{"Idempotency-Key": "cart-2"})
    calls = session_calls(shop)

    again = await post_checkout(shop, product, **{"Idempotency-Key": "cart-2"})

    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert session_calls(shop) == calls == 1
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_refused_checkout_without_a_key_is_refused_the_same_way(shop: Shop, db) -> None:
    """Without an Idempotency-Key the answer and the order's end are the same."""
    product = await shop.product()
    refuse_next_session(shop)

    response = await post_checkout(shop, product)

    assert (response.status_code, response.json()["error"]["code"]) == (422, "provider_rejected")
    row = await db.fetchrow("SELECT status, cancel_reason FROM orders")
    assert (row["status"], row["cancel_reason"]) == ("failed", "provider_rejected")


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(429, "rate_limit_error"), (500, "api_error"), (503, "api_error")],
)
async def test_transient_stripe_failure_leaves_the_order_to_a_retry(
    shop: Shop, db, status: int, error_type: str
) -> None:
    """Rate limited or a 5xx: 502 provider_error, and the same key finishes the same order."""
    product = await shop.product()
    shop.fake.fail_next(1, status=status, error_type=error_type, path_prefix=SESSIONS)

    failed = await post_checkout(shop, product, **{"Idempotency-Key": "cart-3"})
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "provider_error")
    assert await db.fetchval("SELECT status FROM orders") == "pending"

    retried = await post_checkout(shop, product, **{"Idempotency-Key": "cart-3"})

    assert retried.status_code == 201, retried.text
    assert retried.json()["order_id"] == str(await db.fetchval("SELECT id FROM orders"))


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(401, "invalid_request_error"), (403, "invalid_request_error")],
)
async def test_stripe_refusing_our_key_is_not_a_refusal_of_the_order(
    shop: Shop, db, status: int, error_type: str
) -> None:
    """A wrong or under-permitted key is ours to fix, not the buyer's order: 502, still open,
    and the same key finishes the order once Stripe takes the key again."""
    product = await shop.product()
    shop.fake.fail_next(1, status=status, error_type=error_type, path_prefix=SESSIONS)

    failed = await post_checkout(shop, product, **{"Idempotency-Key": "cart-4"})
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "provider_error")
    assert await db.fetchval("SELECT status FROM orders") == "pending"

    retried = await post_checkout(shop, product, **{"Idempotency-Key": "cart-4"})

    assert retried.status_code == 201, retried.text


@pytest.fixture
async def newer_replica(
    database_url: str, stripe_url: str, fake_stripe: FakeStripe, app: Any
) -> AsyncIterator[Shop]:
    """A second replica on the same database, one release newer: its success URL changed, so
    it sends other parameters under the order's idempotency key."""
    other = create_app(
        make_settings(
            database_url,
            stripe_url,
            checkout_success_url="https://shop.example/thanks?s={CHECKOUT_SESSION_ID}",
        )
    )
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as client:
            yield Shop(client, fake_stripe, {}, other)


async def test_key_used_by_another_replica_is_not_a_refusal_of_the_order(
    shop: Shop, newer_replica: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe's idempotency_error while another replica holds the order's session (rolling
    deploy): 502 and the order stays payable; the next retry answers the stored session."""
    product = await shop.product(stock=5)
    provider = shop.app.state.provider
    create_for_real = provider.create_checkout
    created, store_it = asyncio.Event(), asyncio.Event()

    async def pause_before_storing(request: Any) -> Any:
        session = await create_for_real(request)  # Stripe made the session...
        created.set()
        await store_it.wait()  # ...and this replica has not stored it yet
        return session

    monkeypatch.setattr(provider, "create_checkout", pause_before_storing)
    first = asyncio.create_task(post_checkout(shop, product, **{"Idempotency-Key": "k-1"}))
    await created.wait()
    during = await post_checkout(newer_replica, product, **{"Idempotency-Key": "k-1"})
    store_it.set()
    stored = await first
    after = await post_checkout(newer_replica, product, **{"Idempotency-Key": "k-1"})

    assert (during.status_code, during.json()["error"]["code"]) == (502, "provider_error")
    assert stored.status_code == 201
    assert (after.status_code, after.json()["session_id"]) == (201, stored.json()["session_id"])
    order = await shop.order(stored.json()["order_id"])
    assert (order["status"], order["cancel_reason"]) == ("pending", None)
