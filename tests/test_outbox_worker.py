"""The outbox worker (outbox.py): every refund owed is claimed while due, sent to Stripe for
its own order, and never claimed again once done. Each test has several orders and several
messages, so a claim or an update that forgot its `id = ...` condition fails."""

from __future__ import annotations

import pytest

from payments.outbox import backoff
from tests.conftest import Shop, wait_until


async def oversold(shop: Shop, *, buyers: int, unit_amount: int = 2345) -> list[dict]:
    """`buyers` paid for the last unit: the first got it, every later one is owed a refund."""
    product = await shop.product(stock=1, unit_amount=unit_amount)
    checkouts = [await shop.checkout(product) for _ in range(buyers)]
    outcomes = []
    for checkout in checkouts:
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
        response = await shop.deliver(shop.fake.last_event("checkout.session.completed"))
        outcomes.append(response.json()["outcome"])
    assert outcomes == ["paid"] + ["out_of_stock"] * (buyers - 1)
    return checkouts


def refund_posts(shop: Shop) -> list:
    return [r for r in shop.fake.requests if r.method == "POST" and r.path == "/v1/refunds"]


async def test_refund_sent_to_stripe_gives_back_what_the_order_paid(shop: Shop) -> None:
    """Stripe is asked to refund the later order's PaymentIntent, its amount, for it and why."""
    bystander = await shop.checkout(await shop.product(stock=3, unit_amount=990))
    shop.fake.complete_session(bystander["session_id"], outcome="paid")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    _winner, later = await oversold(shop, buyers=2)
    paid = await shop.order(later["order_id"])

    assert await shop.drain_outbox() == 1

    [refund] = shop.fake.refunds()
    assert refund.refund["payment_intent"] == paid["provider_payment_id"]
    assert refund.refund["amount"] == paid["amount_paid"] == 2345
    assert refund.refund["currency"] == "usd"
    assert refund.refund["reason"] == "requested_by_customer"
    assert refund.refund["metadata"]["order_id"] == later["order_id"]
    assert refund.refund["metadata"]["reason"] == "out_of_stock"
    order = await shop.order(later["order_id"])
    assert [r.idempotency_key for r in refund_posts(shop)] == [
        f"refund:{order['refunds'][0]['id']}"
    ]
    assert order["status"] == "refunded"
    assert [
        (r["provider_refund_id"], r["amount"], r["currency"], r["reason"]) for r in order["refunds"]
    ] == [(refund.refund["id"], 2345, "usd", "out_of_stock")]


async def test_two_refunds_due_at_once_are_both_sent_by_one_drain(shop: Shop) -> None:
    """Two orders owed a refund: one drain claims each message once, each refund for its order."""
    _winner, *later = await oversold(shop, buyers=3)

    assert await shop.drain_outbox() == 2

    refunded = {r.refund["metadata"]["order_id"]: r.refund for r in shop.fake.refunds()}
    assert set(refunded) == {c["order_id"] for c in later}
    for checkout in later:
        order = await shop.order(checkout["order_id"])
        assert order["status"] == "refunded"
        assert refunded[order["id"]]["payment_intent"] == order["provider_payment_id"]


async def test_a_done_message_is_never_claimed_again(shop: Shop, db) -> None:
    """Once Stripe accepted the refund, the message is finished: no later drain touches it."""
    await oversold(shop, buyers=2)
    assert await shop.drain_outbox() == 1
    calls = len(shop.fake.requests)
    await db.execute("UPDATE outbox SET next_attempt_at = now()")  # due, were it not done

    assert await shop.drain_outbox() == 0

    assert len(shop.fake.requests) == calls
    assert await db.fetchval("SELECT attempts FROM outbox") == 1


async def test_a_refund_stripe_refuses_holds_back_only_its_own_order(shop: Shop, db) -> None:
    """The first refund fails and waits for its retry; the second is sent; each order says so."""
    _winner, first, second = await oversold(shop, buyers=3)
    shop.fake.fail_next(
        1,
        status=400,
        error_type="invalid_request_error",
        code="charge_disputed",
        path_prefix="/v1/refunds",
    )

    assert await shop.drain_outbox() == 2

    assert (await shop.order(first["order_id"]))["status"] == "refund_pending"
    assert (await shop.order(second["order_id"]))["status"] == "refunded"
    [refund] = shop.fake.refunds()
    assert refund.refund["metadata"]["order_id"] == second["order_id"]
    waiting = await db.fetchrow(
        "SELECT done_at, last_error, next_attempt_at > now() AS later FROM outbox "
        "WHERE order_id = $1",
        first["order_id"],
    )
    assert waiting["done_at"] is None
    assert "charge_disputed" in waiting["last_error"]
    assert waiting["later"] is True


async def test_a_failed_refund_is_retried_after_its_backoff_not_its_lease(shop: Shop, db) -> None:
    """After a failure the message is due again in seconds (backoff), not when the lease ends."""
    await oversold(shop, buyers=2)
    shop.fake.fail_next(1, status=500, path_prefix="/v1/refunds")

    assert await shop.drain_outbox() == 1

    row = await db.fetchrow(
        "SELECT done_at, last_error, EXTRACT(EPOCH FROM next_attempt_at - now()) AS wait "
        "FROM outbox"
    )
    assert row["done_at"] is None
    assert row["last_error"]
    assert 0 < row["wait"] < 60  # backoff(1) is about 2 s; the lease would be 300 s


@pytest.mark.parametrize(
    "settings_overrides", [{"outbox_enabled": True, "outbox_poll_seconds": 60}]
)
async def test_running_worker_is_woken_by_the_commit_that_queues_a_refund(shop: Shop) -> None:
    """The refund goes out right after the commit, not at the next poll (a minute away)."""
    _winner, later = await oversold(shop, buyers=2)

    async def refunded() -> bool:
        return (await shop.order(later["order_id"]))["status"] == "refunded"

    await wait_until(refunded)
    assert len(shop.fake.refunds()) == 1


@pytest.mark.parametrize(
    "settings_overrides", [{"outbox_enabled": True, "outbox_poll_seconds": 0.2}]
)
async def test_running_worker_retries_a_failed_refund_without_being_woken(shop: Shop) -> None:
    """The worker polls: a refund that failed is sent again once due, with no new commit."""
    shop.fake.fail_next(1, status=500, path_prefix="/v1/refunds")
    _winner, later = await oversold(shop, buyers=2)

    async def refunded() -> bool:
        return (await shop.order(later["order_id"]))["status"] == "refunded"

    await wait_until(refunded)
    assert len(refund_posts(shop)) == 2
    assert len(shop.fake.refunds()) == 1


def test_backoff_doubles_from_two_seconds_with_jitter_up_to_an_hour() -> None:
    """Retry delays: 2**attempts seconds, +-20% jitter, never above an hour (+20%)."""
    for attempts, base in [(1, 2), (2, 4), (5, 32), (11, 2048), (12, 3600), (40, 3600)]:
        delays = [backoff(attempts).total_seconds() for _ in range(200)]
        assert all(0.8 * base <= d <= 1.2 * base for d in delays), (attempts, min(delays))
        assert max(delays) > 1.1 * base  # the jitter spreads retries out
        assert min(delays) < 0.9 * base


async def test_a_message_the_worker_cannot_handle_waits_without_blocking_refunds(
    shop: Shop, db
) -> None:
    """A kind this version does not know (a newer replica wrote it) is retried later, recorded."""
    _winner, later = await oversold(shop, buyers=2)
    await db.execute(
        "INSERT INTO outbox (kind, order_id, payload, idempotency_key, attempts, next_attempt_at) "
        "VALUES ('from_the_future', $1, '{}', 'future:1', 0, now() - interval '1 minute')",
        later["order_id"],
    )

    assert await shop.drain_outbox() == 2

    assert (await shop.order(later["order_id"]))["status"] == "refunded"
    row = await db.fetchrow(
        "SELECT done_at, last_error, next_attempt_at > now() AS later FROM outbox "
        "WHERE kind = 'from_the_future'"
    )
    assert (row["done_at"], row["later"]) == (None, True)
    assert "KeyError" in row["last_error"]
