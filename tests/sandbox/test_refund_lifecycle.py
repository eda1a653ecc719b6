"""A refund after its creation: reading and listing it, pending then settled or failed, and
refunds made in the Dashboard, all seen through the real SDK."""

import time

import pytest
import stripe

from payments.sandbox.stripe_server import ChangeRefused

from .builders import session_params

SELLER = {"stripe_account": "acct_refundseller"}


async def _paid(fake, client, options=None) -> str:
    """A paid 30.00 USD checkout; returns its PaymentIntent id."""
    session = await client.v1.checkout.sessions.create_async(session_params(), options)
    return fake.complete_session(session.id)["payment_intent"]


async def test_refund_carries_what_the_service_reads(fake, client):
    """A refund names its payment and charge, keeps the metadata sent, and says its status."""
    intent = await _paid(fake, client)
    before = int(time.time())

    refund = await client.v1.refunds.create_async(
        {"payment_intent": intent, "amount": 700, "metadata": {"order_id": "o-1", "try": "2"}}
    )

    fetched = await client.v1.refunds.retrieve_async(refund.id)
    charge = await client.v1.charges.retrieve_async(fetched.charge)
    assert fetched.payment_intent == intent
    assert charge.payment_intent == intent
    assert fetched.metadata.to_dict() == {"order_id": "o-1", "try": "2"}
    assert (fetched.status, fetched.failure_reason, fetched.pending_reason) == (
        "succeeded",
        None,
        None,
    )
    assert before <= fetched.created <= int(time.time())


async def test_refunds_list_newest_first_filtered_by_payment(fake, client):
    """GET /v1/refunds lists newest first and filters by payment_intent and by charge."""
    first, second = await _paid(fake, client), await _paid(fake, client)
    a = await client.v1.refunds.create_async({"payment_intent": first, "amount": 100})
    b = await client.v1.refunds.create_async({"payment_intent": second, "amount": 200})
    c = await client.v1.refunds.create_async({"payment_intent": first, "amount": 300})

    everything = await client.v1.refunds.list_async()
    of_first = await client.v1.refunds.list_async({"payment_intent": first})
    of_charge = await client.v1.refunds.list_async({"charge": b.charge})

    assert [r.id for r in everything.data] == [c.id, b.id, a.id]
    assert (everything.url, everything.has_more) == ("/v1/refunds", False)
    assert [r.id for r in of_first.data] == [c.id, a.id]
    assert [r.id for r in of_charge.data] == [b.id]


async def test_refunds_list_pages_with_cursors(fake, client):
    """limit, starting_after and ending_before page through refunds like other lists."""
    intent = await _paid(fake, client)
    ids = [
        (await client.v1.refunds.create_async({"payment_intent": intent, "amount": 100})).id
        for _ in range(5)
    ]

    first = await client.v1.refunds.list_async({"limit": 2})
    walked = [r.id async for r in first.auto_paging_iter()]
    newer = await client.v1.refunds.list_async({"ending_before": ids[1], "limit": 2})

    assert [r.id for r in first.data] == [ids[4], ids[3]]
    assert first.has_more is True
    assert walked == ids[::-1]
    assert [r.id for r in newer.data] == [ids[3], ids[2]]


async def test_refunds_list_is_scoped_by_account(fake, client):
    """A connected account's refunds are listed only with its Stripe-Account header."""
    ours = await _paid(fake, client)
    theirs = await _paid(fake, client, SELLER)
    platform_refund = await client.v1.refunds.create_async({"payment_intent": ours})
    seller_refund = await client.v1.refunds.create_async({"payment_intent": theirs}, SELLER)

    platform = await client.v1.refunds.list_async()
    seller = await client.v1.refunds.list_async(options=SELLER)
    hidden = await client.v1.refunds.list_async({"payment_intent": theirs})

    assert [r.id for r in platform.data] == [platform_refund.id]
    assert [r.id for r in seller.data] == [seller_refund.id]
    assert hidden.data == []


async def test_pending_refund_settles_with_refund_updated(fake, client):
    """With refunds pending, the charge counts the refund at once; settling emits
    refund.updated carrying the succeeded refund and its previous status."""
    intent = await _paid(fake, client)
    fake.set_refund_status("pending")

    refund = await client.v1.refunds.create_async({"payment_intent": intent, "amount": 1000})
    charge = await client.v1.charges.retrieve_async(refund.charge)
    settled = fake.settle_refund(refund.id)

    assert (refund.status, refund.pending_reason) == ("pending", "processing")
    assert charge.amount_refunded == 1000
    assert (settled["status"], settled["pending_reason"]) == ("succeeded", None)
    assert (await client.v1.refunds.retrieve_async(refund.id)).status == "succeeded"
    updated = fake.last_event("refund.updated")
    assert updated["data"]["object"]["status"] == "succeeded"
    assert updated["data"]["previous_attributes"]["status"] == "pending"
    assert fake.last_event("charge.refund.updated")["data"]["object"]["id"] == refund.id


async def test_failed_refund_gives_the_amount_back_and_emits_refund_failed(fake, client):
    """Failing a succeeded full refund: status failed with its reason, the charge is no longer
    refunded, and refund.failed then refund.updated then charge.refund.updated are recorded."""
    intent = await _paid(fake, client)
    refund = await client.v1.refunds.create_async(
        {"payment_intent": intent, "metadata": {"order_id": "o-9"}}
    )
    mark = len(fake.events())

    fake.fail_refund(refund.id, failure_reason="lost_or_stolen_card")

    failed = await client.v1.refunds.retrieve_async(refund.id)
    charge = await client.v1.charges.retrieve_async(refund.charge)
    assert (failed.status, failed.failure_reason) == ("failed", "lost_or_stolen_card")
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    new = fake.events()[: len(fake.events()) - mark][::-1]
    assert [e["type"] for e in new] == [
        "refund.failed",
        "refund.updated",
        "charge.refund.updated",
    ]
    for event in new:
        obj = event["data"]["object"]
        assert (obj["object"], obj["id"], obj["status"]) == ("refund", refund.id, "failed")
        assert obj["metadata"] == {"order_id": "o-9"}
    assert new[1]["data"]["previous_attributes"]["status"] == "succeeded"
    assert fake.refunds()[0].refund["status"] == "failed"


async def test_failed_partial_refund_can_be_refunded_again(fake, client):
    """A failed pending refund frees its amount: the same amount can be refunded anew."""
    intent = await _paid(fake, client)
    fake.set_refund_status("pending")
    first = await client.v1.refunds.create_async({"payment_intent": intent, "amount": 3000})

    fake.fail_refund(first.id)
    fake.set_refund_status("succeeded")
    again = await client.v1.refunds.create_async({"payment_intent": intent, "amount": 3000})

    assert fake.get_object(first.id)["failure_reason"] == "expired_or_canceled_card"
    assert again.status == "succeeded"
    assert (await client.v1.charges.retrieve_async(again.charge)).amount_refunded == 3000


async def test_refund_changes_stripe_would_not_make_are_refused(fake, client):
    """Settling a succeeded refund, failing a failed one or with an unknown reason:
    ChangeRefused naming the param; an unknown refund is a KeyError."""
    refund = fake.refund_in_dashboard(await _paid(fake, client), amount=100)

    with pytest.raises(ChangeRefused, match="only a pending refund"):
        fake.settle_refund(refund["id"])
    with pytest.raises(ChangeRefused) as bad_reason:
        fake.fail_refund(refund["id"], failure_reason="bored")
    fake.fail_refund(refund["id"])
    with pytest.raises(ChangeRefused, match="only a pending or succeeded"):
        fake.fail_refund(refund["id"])
    with pytest.raises(KeyError):
        fake.settle_refund("re_missing")
    with pytest.raises(ValueError, match="refund status"):
        fake.set_refund_status("canceled")  # type: ignore[arg-type]

    assert bad_reason.value.param == "failure_reason"
    assert isinstance(bad_reason.value, ValueError)


async def test_dashboard_refund_looks_like_stripe_made_it(fake, client):
    """A Dashboard refund on a direct charge lives on that account, carries no metadata and no
    request, and emits charge.refunded (cumulative, no refunds list) and refund.created."""
    intent = await _paid(fake, client, SELLER)
    await client.v1.refunds.create_async({"payment_intent": intent, "amount": 500}, SELLER)

    made = fake.refund_in_dashboard(intent, amount=1000, reason="requested_by_customer")

    fetched = await client.v1.refunds.retrieve_async(made["id"], options=SELLER)
    assert (fetched.amount, fetched.metadata.to_dict(), fetched.reason) == (
        1000,
        {},
        "requested_by_customer",
    )
    created = fake.last_event("refund.created")
    refunded = fake.last_event("charge.refunded")
    assert created["data"]["object"]["id"] == made["id"]
    assert created["request"] == {"id": None, "idempotency_key": None}
    assert created["account"] == refunded["account"] == "acct_refundseller"
    assert refunded["data"]["object"]["amount_refunded"] == 1500
    assert "refunds" not in refunded["data"]["object"]
    assert [(r.source, r.account) for r in fake.refunds()] == [
        ("api", "acct_refundseller"),
        ("dashboard", "acct_refundseller"),
    ]


async def test_dashboard_refund_refuses_like_the_api(fake, client):
    """Over-refunding in the Dashboard is amount_too_large, then charge_already_refunded."""
    intent = await _paid(fake, client)

    with pytest.raises(ChangeRefused) as too_much:
        fake.refund_in_dashboard(intent, amount=3001)
    fake.refund_in_dashboard(intent)
    with pytest.raises(ChangeRefused) as again:
        fake.refund_in_dashboard(intent)
    with pytest.raises(KeyError):
        fake.refund_in_dashboard("pi_missing")

    assert (too_much.value.code, too_much.value.param) == ("amount_too_large", "amount")
    assert again.value.code == "charge_already_refunded"
    assert len(fake.events("refund.created")) == 1


async def test_api_refund_after_dashboard_full_refund_is_charge_already_refunded(fake, client):
    """The service's own refund of a payment refunded in the Dashboard gets Stripe's code."""
    intent = await _paid(fake, client)
    fake.refund_in_dashboard(intent)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async({"payment_intent": intent})

    assert (caught.value.http_status, caught.value.code) == (400, "charge_already_refunded")
