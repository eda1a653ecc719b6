"""confirm_payment through its real callers: async methods, free orders, order of events,
the last unit sold twice, and refunds through the outbox."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Shop, wait_until


async def start(shop: Shop, *, stock: int | None = 5, seller: dict | None = None, amount=2500):
    product = await shop.product(stock=stock, seller=seller, unit_amount=amount)
    checkout = await shop.checkout(product)
    return product, checkout


async def sold_twice(
    shop: Shop, *, seller: dict | None = None, outcome: str = "paid"
) -> tuple[dict, dict]:
    """Two buyers both paid for the last unit (webhooks delivered); returns both checkouts."""
    product = await shop.product(stock=1, seller=seller)
    first, second = await shop.checkout(product), await shop.checkout(product)
    outcomes = []
    for checkout in (first, second):
        shop.fake.complete_session(checkout["session_id"], outcome=outcome)
        response = await shop.deliver(shop.fake.last_event("checkout.session.completed"))
        outcomes.append(response.json()["outcome"])
    assert outcomes == ["paid", "out_of_stock"]
    return first, second


@pytest.mark.parametrize("free_payment_status", ["paid", "no_payment_required"])
async def test_full_discount_promotion_code_is_a_paid_free_order(
    shop: Shop, free_payment_status: str
) -> None:
    """100% off: amount 0, no PaymentIntent, reported as paid or no_payment_required."""
    product, checkout = await start(shop)
    shop.fake.complete_session(
        checkout["session_id"], outcome="free", free_payment_status=free_payment_status
    )

    response = await shop.deliver(shop.fake.last_event("checkout.session.completed"))

    assert response.json()["outcome"] == "paid"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["amount_paid"], order["provider_payment_id"]) == (
        "paid",
        0,
        None,
    )
    assert await shop.stock(product) == 4


async def test_free_order_is_confirmed_by_verify_too(shop: Shop) -> None:
    """The frontend path applies the same 100%-discount rule as the webhook."""
    _product, checkout = await start(shop)
    shop.fake.complete_session(
        checkout["session_id"], outcome="free", free_payment_status="no_payment_required"
    )

    response = await shop.verify(checkout["session_id"])

    assert response.json() == {"order_id": checkout["order_id"], "status": "paid", "paid": True}


async def test_connect_order_made_free_by_a_code_records_no_fee(shop: Shop) -> None:
    """A seller's order with no fee to take may be made free; then nothing is paid, no fee kept."""
    seller = await shop.seller("destination", fee_bps=1)  # 0.4999 of a cent: no fee
    product, checkout = await start(shop, seller=seller, amount=4999)
    shop.fake.complete_session(checkout["session_id"], outcome="free")

    response = await shop.deliver(shop.fake.last_event("checkout.session.completed"))

    assert response.json()["outcome"] == "paid"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["amount_paid"], order["application_fee_amount"]) == (
        "paid",
        0,
        0,
    )
    assert order["allow_promotion_codes"] is True
    assert await shop.stock(product) == 4


async def test_paid_session_without_an_amount_is_unusable_not_free(shop: Shop, db) -> None:
    """A PaymentIntent but no integer amount_total: recorded as unusable, never taken as free."""
    product = await shop.product(stock=1)
    first, second = await shop.checkout(product), await shop.checkout(product)
    shop.fake.complete_session(first["session_id"], outcome="paid")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    session = shop.fake.complete_session(second["session_id"], outcome="paid")
    event = shop.fake.make_event("checkout.session.completed", dict(session, amount_total=None))

    response = await shop.deliver(event)
    await shop.drain_outbox()

    assert response.json()["outcome"] == "unusable_event"
    order = await shop.order(second["order_id"])
    assert (order["status"], order["amount_paid"], order["refunds"]) == ("pending", None, [])
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0
    assert (await shop.order(first["order_id"]))["status"] == "paid"


@pytest.mark.parametrize("mode", ["setup", "subscription"])
async def test_no_payment_required_outside_payment_mode_is_not_a_payment(
    shop: Shop, mode: str
) -> None:
    """Setup mode or a trial reports no_payment_required, which must confirm nothing."""
    product, checkout = await start(shop)
    session = dict(shop.fake.get_session(checkout["session_id"]))
    session.update(
        mode=mode,
        status="complete",
        payment_status="no_payment_required",
        amount_total=0,
        payment_intent=None,
    )

    response = await shop.deliver(shop.fake.make_event("checkout.session.completed", session))

    assert response.status_code == 200
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 5


async def test_no_payment_required_with_an_amount_is_not_a_payment(shop: Shop) -> None:
    """no_payment_required only means free when nothing was due and nothing was charged."""
    product, checkout = await start(shop)
    session = dict(shop.fake.get_session(checkout["session_id"]))
    session.update(status="complete", payment_status="no_payment_required", amount_total=2500)

    response = await shop.deliver(shop.fake.make_event("checkout.session.completed", session))

    assert response.json()["outcome"] == "not_a_payment"
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 5


async def test_async_payment_stays_processing_then_succeeds(shop: Shop) -> None:
    """completed+unpaid keeps the order open; async_payment_succeeded confirms it once."""
    product, checkout = await start(shop)
    shop.fake.complete_session(checkout["session_id"], outcome="async")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))

    assert (await shop.order(checkout["order_id"]))["status"] == "processing"
    assert await shop.stock(product) == 5
    verify = await shop.verify(checkout["session_id"])
    assert verify.json()["status"] == "processing"
    assert verify.json()["paid"] is False

    shop.fake.succeed_async(checkout["session_id"])
    await shop.deliver(shop.fake.last_event("checkout.session.async_payment_succeeded"))

    assert (await shop.order(checkout["order_id"]))["status"] == "paid"
    assert await shop.stock(product) == 4


async def test_async_payment_failure_ends_failed_with_stock_untouched(shop: Shop) -> None:
    """async_payment_failed ends the order failed; nothing is taken from stock."""
    product, checkout = await start(shop)
    shop.fake.complete_session(checkout["session_id"], outcome="async")
    shop.fake.fail_async(checkout["session_id"])

    await shop.deliver(shop.fake.last_event("checkout.session.async_payment_failed"))

    assert (await shop.order(checkout["order_id"]))["status"] == "failed"
    assert await shop.stock(product) == 5


async def test_events_out_of_order_never_move_the_order_backwards(shop: Shop) -> None:
    """succeeded before completed: the late completed(unpaid) must not reopen a paid order."""
    product, checkout = await start(shop)
    shop.fake.complete_session(checkout["session_id"], outcome="async")
    completed = shop.fake.last_event("checkout.session.completed")
    shop.fake.succeed_async(checkout["session_id"])
    succeeded = shop.fake.last_event("checkout.session.async_payment_succeeded")

    deliveries = [await shop.deliver(e) for e in (succeeded, completed, succeeded)]

    assert [d.json()["outcome"] for d in deliveries] == ["paid", "already_processed", "duplicate"]
    assert (await shop.order(checkout["order_id"]))["status"] == "paid"
    assert await shop.stock(product) == 4


async def test_failure_after_processing_is_final_against_a_late_completed(shop: Shop) -> None:
    """A late completed(unpaid) after async_payment_failed leaves the order failed."""
    _product, checkout = await start(shop)
    shop.fake.complete_session(checkout["session_id"], outcome="async")
    completed = shop.fake.last_event("checkout.session.completed")
    shop.fake.fail_async(checkout["session_id"])

    await shop.deliver(shop.fake.last_event("checkout.session.async_payment_failed"))
    late = await shop.deliver(completed)

    assert late.json()["outcome"] == "already_processed"
    assert (await shop.order(checkout["order_id"]))["status"] == "failed"


async def test_expired_session_ends_an_open_order(shop: Shop) -> None:
    """checkout.session.expired closes a still-open order as expired."""
    product, checkout = await start(shop)
    shop.fake.expire_session(checkout["session_id"])

    await shop.deliver(shop.fake.last_event("checkout.session.expired"))

    assert (await shop.order(checkout["order_id"]))["status"] == "expired"
    assert await shop.stock(product) == 5


async def test_expired_event_after_payment_changes_nothing(shop: Shop) -> None:
    """A paid order stays paid whatever arrives later."""
    product, checkout = await start(shop)
    session = shop.fake.complete_session(checkout["session_id"], outcome="paid")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    expired = dict(session, status="expired")

    response = await shop.deliver(shop.fake.make_event("checkout.session.expired", expired))

    assert response.json()["outcome"] == "already_processed"
    assert (await shop.order(checkout["order_id"]))["status"] == "paid"
    assert await shop.stock(product) == 4


async def test_last_unit_sold_twice_refunds_the_later_order_exactly_once(shop: Shop, db) -> None:
    """Both buyers paid for the last unit: the later order is refunded once, stock never < 0."""
    product = await shop.product(stock=1)
    first = await shop.checkout(product)
    second = await shop.checkout(product)
    shop.fake.complete_session(first["session_id"], outcome="paid")
    first_event = shop.fake.last_event("checkout.session.completed")
    shop.fake.complete_session(second["session_id"], outcome="paid")
    second_event = shop.fake.last_event("checkout.session.completed")

    assert (await shop.deliver(first_event)).json()["outcome"] == "paid"
    response = await shop.deliver(second_event)
    assert response.json()["outcome"] == "out_of_stock"
    seen = []
    for _ in range(3):  # redeliveries and the buyer's verify must not add refunds
        redelivered = await shop.deliver(second_event)
        verified = await shop.verify(second["session_id"])
        seen.append((redelivered.json()["outcome"], verified.json(), await shop.drain_outbox()))

    answer = {"order_id": second["order_id"], "paid": False}
    assert seen == [
        ("duplicate", {**answer, "status": "refund_pending"}, 1),
        ("duplicate", {**answer, "status": "refunded"}, 0),
        ("duplicate", {**answer, "status": "refunded"}, 0),
    ]

    assert (await shop.order(first["order_id"]))["status"] == "paid"
    later = await shop.order(second["order_id"])
    assert later["status"] == "refunded"
    assert later["cancel_reason"] == "out_of_stock"
    assert len(later["refunds"]) == 1
    assert later["refunds"][0]["amount"] == 2500
    refunds = shop.fake.refunds()
    assert len(refunds) == 1
    assert refunds[0].refund["payment_intent"] == later["provider_payment_id"]
    assert await shop.stock(product) == 0


async def test_refund_survives_a_crash_between_commit_and_call(shop: Shop, db) -> None:
    """The refund is queued in the same commit; a worker started later still sends it."""
    _first, second = await sold_twice(shop)

    # Nothing has called Stripe yet: the committed outbox row is all that remains.
    assert shop.fake.refunds() == []
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL") == 1
    assert (await shop.order(second["order_id"]))["status"] == "refund_pending"

    assert await shop.drain_outbox() == 1

    assert (await shop.order(second["order_id"]))["status"] == "refunded"
    assert len(shop.fake.refunds()) == 1


async def test_refund_is_retried_until_stripe_accepts_it(shop: Shop, db) -> None:
    """A failing refund call is retried with the same idempotency key: one refund in the end."""
    _first, second = await sold_twice(shop)
    shop.fake.fail_next(2, status=500, path_prefix="/v1/refunds")

    for _ in range(3):
        await shop.drain_outbox()
        await db.execute("UPDATE outbox SET next_attempt_at = now()")  # skip the backoff wait

    assert (await shop.order(second["order_id"]))["status"] == "refunded"
    assert len(shop.fake.refunds()) == 1
    keys = {r.idempotency_key for r in shop.fake.requests if r.path == "/v1/refunds"}
    [refund] = (await shop.order(second["order_id"]))["refunds"]
    assert keys == {f"refund:{refund['id']}"}
    row = await db.fetchrow("SELECT attempts, done_at, last_error FROM outbox")
    assert row["attempts"] == 3
    assert row["done_at"] is not None
    assert row["last_error"] is None


@pytest.mark.parametrize("settings_overrides", [{"stripe_timeout_seconds": 0.3}])
async def test_refund_lost_on_the_way_back_is_not_sent_twice(shop: Shop, db) -> None:
    """Stripe made the refund but the answer timed out: the retry gets the same refund back."""
    _first, second = await sold_twice(shop)
    shop.fake.delay_next(1, 1.0, path_prefix="/v1/refunds")  # longer than our timeout

    await shop.drain_outbox()
    assert (await shop.order(second["order_id"]))["status"] == "refund_pending"
    await db.execute("UPDATE outbox SET next_attempt_at = now()")
    await wait_until(lambda: len(shop.fake.refunds()) == 1)
    await shop.drain_outbox()

    later = await shop.order(second["order_id"])
    assert later["status"] == "refunded"
    assert len(later["refunds"]) == 1
    assert len(shop.fake.refunds()) == 1


async def test_direct_charge_refund_goes_to_the_connected_account(shop: Shop) -> None:
    """Refunds of direct charges are made on the seller's account, fee refunded too."""
    seller = await shop.seller("direct")
    _first, second = await sold_twice(shop, seller=seller)

    await shop.drain_outbox()

    [refund] = shop.fake.refunds()
    assert refund.account == seller["stripe_account_id"]
    assert refund.request_params["refund_application_fee"] == "true"
    assert "reverse_transfer" not in refund.request_params
    assert (await shop.order(second["order_id"]))["status"] == "refunded"


async def test_destination_charge_refund_reverses_the_transfer(shop: Shop) -> None:
    """Refunds of destination charges are made on the platform and take the transfer back."""
    seller = await shop.seller("destination")
    _first, _second = await sold_twice(shop, seller=seller)

    await shop.drain_outbox()

    [refund] = shop.fake.refunds()
    assert refund.account is None
    assert refund.request_params["reverse_transfer"] == "true"


async def test_free_order_out_of_stock_ends_refunded_without_calling_stripe(shop: Shop) -> None:
    """A free order has nothing to refund: it is closed as refunded, no Stripe call."""
    _first, second = await sold_twice(shop, outcome="free")

    await shop.drain_outbox()

    assert (await shop.order(second["order_id"]))["status"] == "refunded"
    assert shop.fake.refunds() == []


async def test_background_worker_sends_refunds_without_being_asked(
    database_url, stripe_url, fake_stripe
) -> None:
    """With the outbox worker running, a queued refund is sent right after the commit."""
    import httpx

    from payments.app import create_app
    from tests.conftest import ADMIN_KEY, make_settings, truncate_all

    await truncate_all(database_url)
    fake_stripe.reset()
    app = create_app(make_settings(database_url, stripe_url, outbox_enabled=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as c:
            shop = Shop(c, fake_stripe, {"Authorization": f"Bearer {ADMIN_KEY}"}, app)
            product = await shop.product(stock=1)
            first, second = await shop.checkout(product), await shop.checkout(product)
            for checkout in (first, second):
                shop.fake.complete_session(checkout["session_id"], outcome="paid")
                await shop.deliver(shop.fake.last_event("checkout.session.completed"))

            async def refunded() -> bool:
                return (await shop.order(second["order_id"]))["status"] == "refunded"

            await wait_until(refunded)
            assert len(fake_stripe.refunds()) == 1


async def test_refund_stripe_refuses_stays_pending_and_is_retried(shop: Shop, db) -> None:
    """A refused refund keeps the order refund_pending, records why, and is tried again."""
    _first, second = await sold_twice(shop)
    shop.fake.fail_next(
        1,
        status=400,
        error_type="invalid_request_error",
        code="charge_disputed",
        path_prefix="/v1/refunds",
    )

    await shop.drain_outbox()

    assert (await shop.order(second["order_id"]))["status"] == "refund_pending"
    row = await db.fetchrow("SELECT attempts, done_at, last_error FROM outbox")
    assert row["done_at"] is None
    assert "charge_disputed" in row["last_error"]
    await db.execute("UPDATE outbox SET next_attempt_at = now()")
    await shop.drain_outbox()
    assert (await shop.order(second["order_id"]))["status"] == "refunded"
    assert len(shop.fake.refunds()) == 1


async def test_worker_that_dies_mid_delivery_is_replaced_after_its_lease(shop: Shop, db) -> None:
    """A claimed message whose worker vanished is delivered by another once the lease ends."""
    _first, second = await sold_twice(shop)
    crashed = await shop.app.state.outbox._claim()  # claimed, then the worker "dies"
    assert crashed is not None

    assert await shop.drain_outbox() == 0  # still leased to the dead worker
    await db.execute("UPDATE outbox SET next_attempt_at = now()")  # the lease runs out
    assert await shop.drain_outbox() == 1

    assert (await shop.order(second["order_id"]))["status"] == "refunded"
    assert len(shop.fake.refunds()) == 1


async def test_two_workers_draining_at_once_send_one_refund(shop: Shop) -> None:
    """Replicas share the outbox: SKIP LOCKED claims give each message to one worker."""
    from payments.outbox import OutboxWorker

    _first, second = await sold_twice(shop)
    other = OutboxWorker(shop.app.state.database, shop.app.state.provider)

    attempted = await asyncio.gather(shop.drain_outbox(), other.drain(), shop.drain_outbox())

    assert sum(attempted) == 1
    assert (await shop.order(second["order_id"]))["status"] == "refunded"
    assert len(shop.fake.refunds()) == 1


async def test_charge_refunded_elsewhere_closes_the_order(shop: Shop) -> None:
    """If Stripe says the charge is already refunded, the order ends refunded; our refund
    gave nothing (canceled), and the charge's refunds are fetched from Stripe."""
    _first, second = await sold_twice(shop)
    shop.fake.fail_next(
        1,
        status=400,
        error_type="invalid_request_error",
        code="charge_already_refunded",
        path_prefix="/v1/refunds",
    )

    await shop.drain_outbox()

    order = await shop.order(second["order_id"])
    assert order["status"] == "refunded"
    assert [(r["status"], r["failure_reason"]) for r in order["refunds"]] == [
        ("canceled", "charge_already_refunded")
    ]
    listed = [r for r in shop.fake.requests if r.path == "/v1/refunds" and r.method == "GET"]
    assert [r.query["payment_intent"] for r in listed] == [order["provider_payment_id"]]
