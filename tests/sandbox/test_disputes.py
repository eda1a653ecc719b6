"""Disputes: opened and decided by Stripe's side, read through the real SDK."""

import time

import httpx
import pytest
import stripe

from payments.sandbox.stripe_server import ChangeRefused

from .builders import session_params

SELLER = {"stripe_account": "acct_disputeseller"}
WEEK = 7 * 24 * 60 * 60


async def _paid(fake, client, options=None) -> str:
    """A paid 30.00 USD checkout; returns its PaymentIntent id."""
    session = await client.v1.checkout.sessions.create_async(session_params(), options)
    return fake.complete_session(session.id)["payment_intent"]


async def test_open_dispute_marks_the_charge_and_emits_created_and_withdrawn(fake, client):
    """A fraudulent dispute for the whole charge, due in a week; the charge says disputed."""
    intent = await _paid(fake, client)
    before = int(time.time())

    opened = fake.open_dispute(intent)

    dispute = await client.v1.disputes.retrieve_async(opened["id"])
    charge = await client.v1.charges.retrieve_async(dispute.charge)
    assert dispute.id.startswith("dp_")
    assert (dispute.status, dispute.reason, dispute.payment_intent) == (
        "needs_response",
        "fraudulent",
        intent,
    )
    assert (dispute.amount, dispute.currency) == (3000, "usd")
    assert before + WEEK <= dispute.evidence_details.due_by <= int(time.time()) + WEEK
    assert dispute.is_charge_refundable is False
    assert charge.disputed is True
    assert [e["type"] for e in fake.events()[:2]] == [
        "charge.dispute.funds_withdrawn",
        "charge.dispute.created",
    ]
    assert fake.last_event("charge.dispute.created")["data"]["object"]["id"] == dispute.id


async def test_partial_dispute_with_another_reason(fake, client):
    """amount and reason are as given."""
    intent = await _paid(fake, client)

    dispute = fake.open_dispute(intent, reason="product_not_received", amount=1200)

    assert (dispute["amount"], dispute["reason"]) == (1200, "product_not_received")


async def test_dispute_on_a_direct_charge_lives_on_the_connected_account(fake, client):
    """The dispute and its events are on the charge's account; the platform gets a 404."""
    intent = await _paid(fake, client, SELLER)

    opened = fake.open_dispute(intent)

    seen = await client.v1.disputes.retrieve_async(opened["id"], options=SELLER)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.disputes.retrieve_async(opened["id"])
    assert seen.charge == opened["charge"]
    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")
    assert fake.last_event("charge.dispute.created")["account"] == "acct_disputeseller"
    assert fake.disputes(None) == []
    assert [d["id"] for d in fake.disputes("acct_disputeseller")] == [opened["id"]]


async def test_disputes_list_newest_first_scoped_and_filtered(fake, client):
    """GET /v1/disputes lists the account's disputes newest first, by payment_intent too."""
    first, second = await _paid(fake, client), await _paid(fake, client)
    elsewhere = await _paid(fake, client, SELLER)
    a, b = fake.open_dispute(first), fake.open_dispute(second)
    fake.open_dispute(elsewhere)

    listed = await client.v1.disputes.list_async()
    by_intent = await client.v1.disputes.list_async({"payment_intent": first})
    seller = await client.v1.disputes.list_async(options=SELLER)

    assert [d.id for d in listed.data] == [b["id"], a["id"]]
    assert listed.url == "/v1/disputes"
    assert [d.id for d in by_intent.data] == [a["id"]]
    assert [d.payment_intent for d in seller.data] == [elsewhere]


async def test_won_dispute_is_updated_closed_and_reinstated(fake, client):
    """under_review then won: updated (previous status), then updated, closed, reinstated."""
    dispute = fake.open_dispute(await _paid(fake, client))
    mark = len(fake.events())

    fake.update_dispute(dispute["id"], "under_review")
    fake.update_dispute(dispute["id"], "won")

    new = fake.events()[: len(fake.events()) - mark][::-1]
    assert [e["type"] for e in new] == [
        "charge.dispute.updated",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]
    assert [e["data"]["object"]["status"] for e in new] == [
        "under_review",
        "won",
        "won",
        "won",
    ]
    assert new[0]["data"]["previous_attributes"] == {"status": "needs_response"}
    assert new[1]["data"]["previous_attributes"] == {"status": "under_review"}
    assert (await client.v1.disputes.retrieve_async(dispute["id"])).status == "won"


@pytest.mark.parametrize("status", ["lost", "warning_closed"])
async def test_lost_or_closed_inquiry_closes_without_reinstating(fake, client, status):
    """lost and warning_closed emit updated then closed, and no funds come back."""
    dispute = fake.open_dispute(await _paid(fake, client))
    mark = len(fake.events())

    fake.update_dispute(dispute["id"], status)

    new = fake.events()[: len(fake.events()) - mark][::-1]
    assert [e["type"] for e in new] == ["charge.dispute.updated", "charge.dispute.closed"]


async def test_closed_disputes_and_bad_changes_are_refused(fake, client):
    """A closed dispute no longer moves; unknown statuses, reasons, amounts and ids fail."""
    intent = await _paid(fake, client)
    dispute = fake.open_dispute(intent)
    fake.update_dispute(dispute["id"], "lost")
    other = await _paid(fake, client)

    refusals = [
        _refusal(lambda: fake.update_dispute(dispute["id"], "won")),
        _refusal(lambda: fake.update_dispute(dispute["id"], "victorious")),
        _refusal(lambda: fake.open_dispute(intent)),
        _refusal(lambda: fake.open_dispute(other, reason="grumpy")),
        _refusal(lambda: fake.open_dispute(other, amount=3001)),
        _refusal(lambda: fake.open_dispute(other, amount=0)),
    ]
    with pytest.raises(KeyError):
        fake.update_dispute("dp_missing", "won")
    with pytest.raises(KeyError):
        fake.open_dispute("pi_missing")

    assert [(r.param, r.code) for r in refusals] == [
        ("status", None),
        ("status", None),
        ("payment_intent", "charge_disputed"),
        ("reason", None),
        ("amount", "amount_too_large"),
        ("amount", None),
    ]
    assert len(fake.events("charge.dispute.closed")) == 1
    assert fake.get_object(other)["latest_charge"] not in [d["charge"] for d in fake.disputes()]


def _refusal(change) -> ChangeRefused:
    with pytest.raises(ChangeRefused) as caught:
        change()
    return caught.value


async def test_a_charged_back_payment_cannot_be_refunded(fake, client):
    """Refunding a payment under a chargeback is 400 charge_disputed and changes nothing."""
    intent = await _paid(fake, client)
    fake.open_dispute(intent)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async({"payment_intent": intent})

    assert (caught.value.http_status, caught.value.code) == (400, "charge_disputed")
    assert fake.refunds() == []


async def test_disputed_test_card_pays_then_opens_a_fraudulent_dispute(fake, client):
    """4000 0000 0000 0259 on the hosted page pays (303 to success) and is disputed at once."""
    session = await client.v1.checkout.sessions.create_async(session_params())

    async with httpx.AsyncClient(follow_redirects=False, timeout=5) as browser:
        response = await browser.post(
            session.url, data={"action": "pay", "card_number": "4000 0000 0000 0259"}
        )

    paid = await client.v1.checkout.sessions.retrieve_async(session.id)
    [dispute] = (await client.v1.disputes.list_async()).data
    assert response.status_code == 303
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    assert (dispute.payment_intent, dispute.reason, dispute.status) == (
        paid.payment_intent,
        "fraudulent",
        "needs_response",
    )
    assert [e["type"] for e in fake.events()][::-1] == [
        "checkout.session.completed",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
