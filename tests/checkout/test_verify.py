"""GET /checkout/verify: the frontend's fast confirmation, through the same confirm_payment."""

from __future__ import annotations

from tests.conftest import UNTOUCHED, Shop


async def test_verify_alone_confirms_a_paid_session(shop: Shop) -> None:
    """The webhook never arrived: verify confirms, decrements stock once, says so."""
    product = await shop.product(stock=2)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")

    first = await shop.verify(checkout["session_id"])
    second = await shop.verify(checkout["session_id"])

    expected = {"order_id": checkout["order_id"], "status": "paid", "paid": True}
    assert first.json() == expected
    assert second.json() == expected
    assert await shop.stock(product) == 1
    assert (await shop.order(checkout["order_id"]))["confirmed_via"] == "verify"


async def test_verify_of_a_settled_order_does_not_ask_stripe_again(shop: Shop) -> None:
    """Once paid, verify answers from the database (a public endpoint must not drain Stripe)."""
    product = await shop.product(stock=2)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    calls_before = len(shop.fake.requests)

    for _ in range(3):
        response = await shop.verify(checkout["session_id"])
        assert response.json()["paid"] is True

    assert len(shop.fake.requests) == calls_before


async def test_webhook_after_verify_is_a_no_op(shop: Shop) -> None:
    """The late webhook finds the order paid and takes no more stock."""
    product = await shop.product(stock=2)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    verified = await shop.verify(checkout["session_id"])
    assert verified.json()["status"] == "paid"

    response = await shop.deliver(shop.fake.last_event("checkout.session.completed"))

    assert response.json()["outcome"] == "already_processed"
    assert await shop.stock(product) == 1


async def test_verify_of_an_unpaid_session_keeps_the_order_pending(shop: Shop) -> None:
    """The buyer came back without paying: nothing changes."""
    product = await shop.product(stock=2)
    checkout = await shop.checkout(product)

    response = await shop.verify(checkout["session_id"])

    assert response.json() == {"order_id": checkout["order_id"], "status": "pending", "paid": False}
    assert await shop.stock(product) == 2


async def test_verify_of_an_expired_session_closes_the_order(shop: Shop) -> None:
    """Stripe says the session expired (its webhook never came): the order ends expired."""
    product = await shop.product(stock=2)
    checkout = await shop.checkout(product)
    bystander = await shop.bystander()
    shop.fake.expire_session(checkout["session_id"])

    response = await shop.verify(checkout["session_id"])

    assert response.json() == {"order_id": checkout["order_id"], "status": "expired", "paid": False}
    assert (await shop.order(checkout["order_id"]))["status"] == "expired"
    assert await shop.stock(product) == 2
    assert await shop.state_of(bystander) == UNTOUCHED


async def test_verify_of_an_async_payment_still_settling_says_processing(shop: Shop) -> None:
    """Completed but unpaid (bank debit): verify moves the order to processing, takes no stock."""
    product = await shop.product(stock=2)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="async")

    response = await shop.verify(checkout["session_id"])

    assert response.json() == {
        "order_id": checkout["order_id"],
        "status": "processing",
        "paid": False,
    }
    assert await shop.stock(product) == 2


async def test_verify_that_finds_the_last_unit_gone_says_refund_pending(shop: Shop) -> None:
    """Verify confirms a payment whose unit another buyer took: it answers the refund, not paid."""
    product = await shop.product(stock=1)
    first, second = await shop.checkout(product), await shop.checkout(product)
    for checkout in (first, second):
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
    assert (await shop.verify(first["session_id"])).json()["paid"] is True

    response = await shop.verify(second["session_id"])

    assert response.json() == {
        "order_id": second["order_id"],
        "status": "refund_pending",
        "paid": False,
    }
    assert await shop.stock(product) == 0


async def test_verify_of_a_direct_charge_asks_the_connected_account(shop: Shop) -> None:
    """Direct-charge sessions live on the seller's account, so verify retrieves them there."""
    seller = await shop.seller("direct")
    product = await shop.product(seller=seller)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")

    response = await shop.verify(checkout["session_id"])

    assert response.json()["paid"] is True
    [retrieve] = [r for r in shop.fake.requests if r.method == "GET"]
    assert retrieve.account == seller["stripe_account_id"]


async def test_unknown_session_is_404_without_asking_stripe(shop: Shop) -> None:
    """Sessions this service never made answer 404; Stripe is not asked."""
    response = await shop.verify("cs_test_unknown")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert shop.fake.requests == []


async def test_malformed_session_id_is_422(shop: Shop) -> None:
    """A session id with odd characters is refused before any lookup."""
    response = await shop.verify("cs_test/../../x")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert shop.fake.requests == []


async def test_stripe_outage_during_verify_is_502_and_changes_nothing(shop: Shop) -> None:
    """If Stripe cannot be asked, verify says so and the webhook remains the reliable path."""
    product = await shop.product(stock=2)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    shop.fake.fail_next(1, status=503)

    response = await shop.verify(checkout["session_id"])

    assert response.status_code == 502
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 2


async def test_session_the_provider_no_longer_knows_is_404(shop: Shop) -> None:
    """If Stripe has no such session (e.g. the sandbox restarted), verify says so: 404."""
    checkout = await shop.checkout(await shop.product())
    shop.fake.reset()  # Stripe forgets everything

    response = await shop.verify(checkout["session_id"])

    assert response.status_code == 404
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
