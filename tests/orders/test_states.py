"""The transition table (orders/states.py) as the webhook sees it: money received settles an
order that a weaker signal closed, and nothing moves a paid order back."""

from __future__ import annotations

from tests.conftest import UNTOUCHED, Shop


async def test_payment_after_an_async_failure_still_confirms_the_order(shop: Shop) -> None:
    """failed -> paid: if Stripe reports the money after all, the order is paid, stock taken."""
    product = await shop.product(stock=5)
    checkout = await shop.checkout(product)
    bystander = await shop.bystander()
    shop.fake.complete_session(checkout["session_id"], outcome="async")
    failed = shop.fake.fail_async(checkout["session_id"])
    await shop.deliver(shop.fake.last_event("checkout.session.async_payment_failed"))
    assert (await shop.order(checkout["order_id"]))["status"] == "failed"
    paid = dict(failed, payment_status="paid")

    response = await shop.deliver(
        shop.fake.make_event("checkout.session.async_payment_succeeded", paid)
    )

    assert response.json()["outcome"] == "paid"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["amount_paid"]) == ("paid", 2500)
    assert await shop.stock(product) == 4
    assert await shop.state_of(bystander) == UNTOUCHED


async def test_payment_after_expiry_still_confirms_the_order(shop: Shop) -> None:
    """expired -> paid: a payment reported after the session expired still confirms the order."""
    product = await shop.product(stock=5)
    checkout = await shop.checkout(product)
    bystander = await shop.bystander()
    expired = shop.fake.expire_session(checkout["session_id"])
    await shop.deliver(shop.fake.last_event("checkout.session.expired"))
    assert (await shop.order(checkout["order_id"]))["status"] == "expired"
    paid = dict(
        expired, status="complete", payment_status="paid", payment_intent="pi_test_late_payment"
    )

    response = await shop.deliver(shop.fake.make_event("checkout.session.completed", paid))

    assert response.json()["outcome"] == "paid"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["provider_payment_id"]) == ("paid", "pi_test_late_payment")
    assert await shop.stock(product) == 4
    assert await shop.state_of(bystander) == UNTOUCHED


async def test_failure_reported_after_payment_leaves_the_order_paid(shop: Shop) -> None:
    """paid never goes back to failed: a late async_payment_failed changes nothing."""
    product = await shop.product(stock=5)
    checkout = await shop.checkout(product)
    session = shop.fake.complete_session(checkout["session_id"], outcome="paid")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    failed = dict(session, payment_status="unpaid")

    response = await shop.deliver(
        shop.fake.make_event("checkout.session.async_payment_failed", failed)
    )

    assert response.json()["outcome"] == "already_processed"
    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["amount_paid"]) == ("paid", 2500)
    assert await shop.stock(product) == 4


async def test_expiry_reported_after_an_async_payment_started_changes_nothing(shop: Shop) -> None:
    """processing never goes to expired: only an order still pending can expire."""
    product = await shop.product(stock=5)
    checkout = await shop.checkout(product)
    session = shop.fake.complete_session(checkout["session_id"], outcome="async")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))

    response = await shop.deliver(
        shop.fake.make_event("checkout.session.expired", dict(session, status="expired"))
    )

    assert response.json()["outcome"] == "already_processed"
    assert (await shop.order(checkout["order_id"]))["status"] == "processing"
    assert await shop.stock(product) == 5
