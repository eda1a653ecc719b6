"""Driving sessions through payment, and the events and signed webhooks that come out."""

import time

import pytest
import stripe

from .builders import session_params
from .conftest import CONNECT_WEBHOOK_SECRET, WEBHOOK_SECRET


def _event_shape(event: dict) -> None:
    assert event["id"].startswith("evt_")
    assert event["object"] == "event"
    assert event["api_version"] == "2026-10-28.endive"
    assert event["livemode"] is False
    assert event["pending_webhooks"] == 1
    assert event["request"] == {"id": None, "idempotency_key": None}
    assert abs(event["created"] - time.time()) < 60


async def test_card_payment_completes_session_with_succeeded_intent_and_charge(fake, client):
    """outcome="paid": session complete/paid, PI succeeded with a charge, one completed event."""
    session = await client.v1.checkout.sessions.create_async(session_params())

    completed = fake.complete_session(session.id, outcome="paid")

    assert (completed["status"], completed["payment_status"]) == ("complete", "paid")
    assert completed["url"] is None
    assert completed["customer_details"]["email"] == "buyer@example.com"
    intent = await client.v1.payment_intents.retrieve_async(completed["payment_intent"])
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", 3000, 3000)
    charge = await client.v1.charges.retrieve_async(intent.latest_charge)
    assert (charge.status, charge.paid, charge.captured, charge.amount) == (
        "succeeded",
        True,
        True,
        3000,
    )
    assert charge.payment_intent == intent.id
    event = fake.last_event("checkout.session.completed")
    _event_shape(event)
    assert "account" not in event
    assert event["data"]["object"] == completed
    assert [e["type"] for e in fake.events()] == ["checkout.session.completed"]


async def test_free_order_completes_without_a_payment_intent(fake, client):
    """outcome="free": a 100% discount leaves amount_total 0 and no PaymentIntent."""
    session = await client.v1.checkout.sessions.create_async(
        session_params(allow_promotion_codes=True)
    )

    completed = fake.complete_session(session.id, outcome="free")
    other = await client.v1.checkout.sessions.create_async(
        session_params(allow_promotion_codes=True)
    )
    paid_free = fake.complete_session(other.id, outcome="free", free_payment_status="paid")

    assert completed["payment_status"] == "no_payment_required"
    assert (completed["amount_subtotal"], completed["amount_total"]) == (3000, 0)
    assert completed["total_details"]["amount_discount"] == 3000
    assert completed["payment_intent"] is None
    assert paid_free["payment_status"] == "paid"
    assert len(fake.events("checkout.session.completed")) == 2


async def test_free_completion_needs_a_session_that_allows_promotion_codes(fake, client):
    """A session created without allow_promotion_codes cannot be made free; it stays open."""
    session = await client.v1.checkout.sessions.create_async(session_params())

    with pytest.raises(ValueError, match="does not accept promotion codes"):
        fake.complete_session(session.id, outcome="free")

    assert fake.get_session(session.id)["status"] == "open"
    assert fake.events() == []


async def test_delayed_payment_succeeds_later(fake, client):
    """outcome="async" completes unpaid with a processing PI; succeed_async makes it paid."""
    session = await client.v1.checkout.sessions.create_async(session_params())

    pending = fake.complete_session(session.id, outcome="async")
    intent = await client.v1.payment_intents.retrieve_async(pending["payment_intent"])
    settled = fake.succeed_async(session.id)
    settled_intent = await client.v1.payment_intents.retrieve_async(pending["payment_intent"])

    assert (pending["status"], pending["payment_status"]) == ("complete", "unpaid")
    assert (intent.status, intent.latest_charge) == ("processing", None)
    assert settled["payment_status"] == "paid"
    assert settled_intent.status == "succeeded"
    assert settled_intent.latest_charge.startswith("ch_")
    assert [e["type"] for e in fake.events()] == [
        "checkout.session.async_payment_succeeded",
        "checkout.session.completed",
    ]
    assert (
        fake.last_event("checkout.session.completed")["data"]["object"]["payment_status"]
        == "unpaid"
    )


async def test_delayed_payment_fails(fake, client):
    """fail_async keeps the session unpaid and sends the PI back to requires_payment_method."""
    session = await client.v1.checkout.sessions.create_async(session_params())
    pending = fake.complete_session(session.id, outcome="async")

    failed = fake.fail_async(session.id)

    intent = await client.v1.payment_intents.retrieve_async(pending["payment_intent"])
    assert (failed["status"], failed["payment_status"]) == ("complete", "unpaid")
    assert intent.status == "requires_payment_method"
    assert (
        fake.last_event("checkout.session.async_payment_failed")["data"]["object"]["id"]
        == session.id
    )
    with pytest.raises(ValueError, match="processing"):
        fake.succeed_async(session.id)


async def test_expiry_is_only_for_open_sessions(fake, client):
    """expire_session emits checkout.session.expired; a completed session cannot expire."""
    open_session = await client.v1.checkout.sessions.create_async(session_params())
    paid_session = await client.v1.checkout.sessions.create_async(session_params())
    fake.complete_session(paid_session.id)

    expired = fake.expire_session(open_session.id)

    assert expired["status"] == "expired"
    _event_shape(fake.last_event("checkout.session.expired"))
    with pytest.raises(ValueError, match="open"):
        fake.expire_session(paid_session.id)
    with pytest.raises(ValueError, match="not open"):
        fake.complete_session(open_session.id)


async def test_connected_account_session_events_carry_the_account(fake, client):
    """Events for a session on a connected account name it and stay off the platform's list."""
    session = await client.v1.checkout.sessions.create_async(
        session_params(), {"stripe_account": "acct_seller1"}
    )

    fake.complete_session(session.id)

    event = fake.last_event("checkout.session.completed")
    assert event["account"] == "acct_seller1"
    assert fake.events(account=None) == []
    assert fake.events(account="acct_seller1") == [event]
    platform_view = await client.v1.events.list_async()
    account_view = await client.v1.events.list_async(options={"stripe_account": "acct_seller1"})
    assert platform_view.data == []
    assert [e.id for e in account_view.data] == [event["id"]]


async def test_signed_events_verify_with_the_sdk_and_pick_the_right_secret(fake, client):
    """signed() passes stripe.Webhook.construct_event; Connect events use the Connect secret."""
    platform = await client.v1.checkout.sessions.create_async(session_params())
    connected = await client.v1.checkout.sessions.create_async(
        session_params(), {"stripe_account": "acct_seller1"}
    )
    fake.complete_session(platform.id)
    fake.complete_session(connected.id)
    platform_event, connect_event = sorted(
        fake.events("checkout.session.completed"), key=lambda e: "account" in e
    )

    body, headers = fake.signed(platform_event)
    connect_body, connect_headers = fake.signed(connect_event)

    assert headers["Content-Type"] == "application/json"
    verified = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
    assert verified.id == platform_event["id"]
    assert verified.data.object.id == platform.id
    connect_verified = stripe.Webhook.construct_event(
        connect_body, connect_headers["Stripe-Signature"], CONNECT_WEBHOOK_SECRET
    )
    assert connect_verified.account == "acct_seller1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], CONNECT_WEBHOOK_SECRET)


def test_old_timestamps_and_custom_events_are_signable(fake):
    """Tests can sign unknown event types, livemode mismatches and stale timestamps."""
    event = fake.make_event("sandbox.unknown_type", {"id": "x_1", "object": "thing"}, livemode=True)

    body, headers = fake.signed(event, timestamp=int(time.time()) - 3600)

    assert event["livemode"] is True
    assert fake.last_event("sandbox.unknown_type") == event
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
    stripe.WebhookSignature.verify_header(body, headers["Stripe-Signature"], WEBHOOK_SECRET, None)
