"""Refunds Stripe refuses for good (not a transient failure): the order is flagged for a
human (`refund_failed`) and the refund is retried with backoff, in case the cause goes away."""

from __future__ import annotations

import stripe

from tests.conftest import STRIPE_KEY, Shop


def refuse_refunds(shop: Shop, n: int = 1) -> None:
    """Stripe refuses the next refunds as it does a disputed charge's."""
    shop.fake.fail_next(
        n,
        status=400,
        error_type="invalid_request_error",
        code="charge_disputed",
        path_prefix="/v1/refunds",
    )


async def flagged(shop: Shop) -> list[tuple[str, str]]:
    response = await shop.client.get("/admin/orders?flagged=true", headers=shop.admin)
    assert response.status_code == 200, response.text
    return [(o["id"], o["review_reason"]) for o in response.json()["data"]]


async def test_refund_stripe_refuses_flags_the_order_for_review(shop: Shop, db) -> None:
    """The order shows up among the flagged ones, still refund_pending, its refund rescheduled."""
    first, second = await shop.oversold()
    refuse_refunds(shop)

    await shop.drain_outbox()

    assert await flagged(shop) == [(second["order_id"], "refund_failed")]
    assert (await shop.order(second["order_id"]))["status"] == "refund_pending"
    assert (await shop.order(first["order_id"]))["review_reason"] is None
    row = await db.fetchrow(
        "SELECT done_at, next_attempt_at > now() AS later, last_error FROM outbox"
    )
    assert (row["done_at"], row["later"]) == (None, True)
    assert "charge_disputed" in row["last_error"]


async def test_refund_refused_again_flags_the_order_once(shop: Shop, db) -> None:
    """Each refusal reschedules the refund; the flag is set once and keeps its reason."""
    _first, second = await shop.oversold()
    refuse_refunds(shop, 2)

    await shop.drain_outbox()
    await db.execute("UPDATE outbox SET next_attempt_at = now()")
    await shop.drain_outbox()

    assert await flagged(shop) == [(second["order_id"], "refund_failed")]
    assert await db.fetchval("SELECT attempts FROM outbox") == 2


async def test_refund_accepted_once_the_cause_is_gone_closes_the_order(shop: Shop, db) -> None:
    """The retry after a refusal goes through: refunded, and still flagged for the human."""
    _first, second = await shop.oversold()
    refuse_refunds(shop)
    await shop.drain_outbox()
    await db.execute("UPDATE outbox SET next_attempt_at = now()")

    await shop.drain_outbox()

    order = await shop.order(second["order_id"])
    assert (order["status"], order["review_reason"]) == ("refunded", "refund_failed")
    assert [r["amount"] for r in order["refunds"]] == [2500]


async def test_transient_failure_does_not_flag_the_order(shop: Shop, db) -> None:
    """Stripe down (a 500) is retried without calling a human."""
    await shop.oversold()
    shop.fake.fail_next(1, status=500, error_type="api_error", path_prefix="/v1/refunds")

    await shop.drain_outbox()

    assert await flagged(shop) == []
    assert await db.fetchval("SELECT last_error FROM outbox") is not None


async def test_refused_refund_keeps_the_reason_of_a_mismatch_flag(shop: Shop) -> None:
    """An order already flagged for its payment keeps that first reason."""
    product = await shop.product(stock=5)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    session = dict(shop.fake.get_session(checkout["session_id"]), currency="eur")
    await shop.deliver(shop.fake.make_event("checkout.session.completed", session))
    refuse_refunds(shop)

    await shop.drain_outbox()

    assert await flagged(shop) == [(checkout["order_id"], "currency_mismatch")]


async def test_refund_key_stripe_saw_with_other_params_is_refused_and_flagged(
    shop: Shop, stripe_url: str, db
) -> None:
    """Stripe (and the sandbox) answer idempotency_error to a key reused with other
    parameters: why a changed request needs a new key scheme. Here it reaches a human."""
    _first, second = await shop.oversold()
    key = await db.fetchval("SELECT idempotency_key FROM outbox")
    http = stripe.HTTPXClient(timeout=5)
    other = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": stripe_url}, http_client=http)
    payment_id = (await shop.order(second["order_id"]))["provider_payment_id"]
    await other.v1.refunds.create_async(
        {"payment_intent": payment_id, "amount": 1000}, {"idempotency_key": key}
    )
    await http.close_async()

    await shop.drain_outbox()

    assert "IdempotencyError" in await db.fetchval("SELECT last_error FROM outbox")
    assert await flagged(shop) == [(second["order_id"], "refund_failed")]


async def test_our_key_refused_by_stripe_is_retried_without_flagging_the_order(
    shop: Shop, db
) -> None:
    """A 401 is about our API key (revoked, rotated), not this refund: the order is not flagged,
    and once the key works again the refund goes through."""
    _first, second = await shop.oversold()
    shop.fake.fail_next(1, status=401, error_type="authentication_error", path_prefix="/v1/refunds")

    await shop.drain_outbox()
    waiting = await shop.order(second["order_id"])
    await db.execute("UPDATE outbox SET next_attempt_at = now()")
    await shop.drain_outbox()

    assert (waiting["status"], waiting["review_reason"]) == ("refund_pending", None)
    order = await shop.order(second["order_id"])
    assert (order["status"], order["review_reason"]) == ("refunded", None)
