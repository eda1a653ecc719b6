"""Refunds through the SDK: amounts, Stripe's error codes, events and account scoping."""

import pytest
import stripe

from .builders import line_item, session_params


async def _paid_session(fake, client, options=None, **overrides) -> dict:
    session = await client.v1.checkout.sessions.create_async(session_params(**overrides), options)
    return fake.complete_session(session.id)


async def test_partial_then_remaining_refund_updates_the_charge(fake, client):
    """Refunds add up on the charge; without `amount` the remainder is refunded."""
    paid = await _paid_session(fake, client)

    partial = await client.v1.refunds.create_async(
        {
            "payment_intent": paid["payment_intent"],
            "amount": 1000,
            "reason": "requested_by_customer",
            "metadata": {"order_id": "order-42"},
        }
    )
    rest = await client.v1.refunds.create_async({"payment_intent": paid["payment_intent"]})

    assert (partial.status, partial.amount, partial.currency) == ("succeeded", 1000, "usd")
    assert partial.reason == "requested_by_customer"
    assert partial.metadata.to_dict() == {"order_id": "order-42"}
    assert partial.payment_intent == paid["payment_intent"]
    assert rest.amount == 2000
    charge = await client.v1.charges.retrieve_async(partial.charge)
    assert (charge.amount_refunded, charge.refunded) == (3000, True)
    fetched = await client.v1.refunds.retrieve_async(partial.id)
    assert fetched.amount == 1000


async def test_refund_emits_charge_refunded_and_refund_created(fake, client):
    """Each refund records charge.refunded (cumulative) and refund.created, tied to the request."""
    paid = await _paid_session(fake, client)

    refund = await client.v1.refunds.create_async(
        {"payment_intent": paid["payment_intent"], "amount": 500}, {"idempotency_key": "refund-1"}
    )

    created = fake.last_event("refund.created")
    refunded = fake.last_event("charge.refunded")
    assert created["data"]["object"]["id"] == refund.id
    assert refunded["data"]["object"]["amount_refunded"] == 500
    assert refunded["data"]["object"]["refunded"] is False
    assert created["request"]["idempotency_key"] == "refund-1"
    assert created["request"]["id"].startswith("req_")


async def test_refunding_more_than_is_left_is_amount_too_large(fake, client):
    """Over-refunding is a 400 with code amount_too_large and leaves the charge alone."""
    paid = await _paid_session(fake, client)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async(
            {"payment_intent": paid["payment_intent"], "amount": 3001}
        )

    assert caught.value.http_status == 400
    assert caught.value.code == "amount_too_large"
    assert caught.value.param == "amount"
    assert fake.refunds() == []
    assert fake.events("refund.created") == []


async def test_refunding_a_fully_refunded_charge_is_charge_already_refunded(fake, client):
    """A second refund of a fully refunded charge is a 400 charge_already_refunded."""
    paid = await _paid_session(fake, client)
    await client.v1.refunds.create_async({"payment_intent": paid["payment_intent"]})

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async({"payment_intent": paid["payment_intent"]})

    assert caught.value.code == "charge_already_refunded"


async def test_direct_charge_refund_needs_the_connected_account(fake, client):
    """A direct charge is refundable only with its Stripe-Account; the platform sees a 404."""
    options = {"stripe_account": "acct_seller1"}
    paid = await _paid_session(
        fake, client, options, payment_intent_data={"application_fee_amount": 300}
    )

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async({"payment_intent": paid["payment_intent"]})
    refund = await client.v1.refunds.create_async(
        {"payment_intent": paid["payment_intent"], "refund_application_fee": True}, options
    )

    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"
    assert caught.value.param == "payment_intent"
    [record] = fake.refunds()
    assert record.account == "acct_seller1"
    assert record.refund["id"] == refund.id
    assert record.request_params == {
        "payment_intent": paid["payment_intent"],
        "refund_application_fee": "true",
    }
    assert fake.last_event("refund.created")["account"] == "acct_seller1"


async def test_destination_charge_refund_can_reverse_the_transfer(fake, client):
    """reverse_transfer on a destination charge sets the refund's transfer_reversal."""
    paid = await _paid_session(
        fake,
        client,
        payment_intent_data={
            "application_fee_amount": 300,
            "transfer_data": {"destination": "acct_s"},
        },
    )

    refund = await client.v1.refunds.create_async(
        {
            "payment_intent": paid["payment_intent"],
            "reverse_transfer": True,
            "refund_application_fee": True,
        }
    )

    assert refund.transfer_reversal.startswith("trr_")
    assert fake.refunds()[0].account is None


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, None),
        ({"charge": "ch_missing"}, "charge"),
        ({"payment_intent": "pi_missing"}, "payment_intent"),
        ({"charge": "ch_x", "reason": "changed_mind"}, "reason"),
        ({"charge": "ch_x", "amount": 0}, "amount"),
    ],
)
async def test_invalid_refund_requests_are_rejected(fake, client, params, param):
    """Missing target, unknown ids, bad reasons and non-positive amounts are refused."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async(params)

    assert caught.value.param == param


async def test_refund_of_an_unpaid_delayed_payment_is_refused(fake, client):
    """A PaymentIntent still processing has no charge to refund."""
    session = await client.v1.checkout.sessions.create_async(session_params())
    pending = fake.complete_session(session.id, outcome="async")

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.refunds.create_async({"payment_intent": pending["payment_intent"]})

    assert caught.value.code == "payment_intent_unexpected_state"


async def test_payment_intent_with_its_charge_expanded_says_what_was_refunded(fake, client):
    """On the connected account, the PaymentIntent's latest charge carries the refunded total
    and its currency: what the service reads when a charge was refunded elsewhere."""
    options = {"stripe_account": "acct_refundedseller1"}
    paid = await _paid_session(fake, client, options, line_items=[line_item(currency="eur")])
    for amount in (1000, 2000):
        await client.v1.refunds.create_async(
            {"payment_intent": paid["payment_intent"], "amount": amount}, options
        )

    intent = await client.v1.payment_intents.retrieve_async(
        paid["payment_intent"], {"expand": ["latest_charge"]}, options
    )

    charge = intent.latest_charge
    assert (charge.object, charge.amount_refunded, charge.currency, charge.refunded) == (
        "charge",
        3000,
        "eur",
        True,
    )
