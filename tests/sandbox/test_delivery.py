"""Automatic webhook delivery to a real receiving server: routing, signing, retries."""

import asyncio
import socket
import threading
import time

import httpx
import pytest
import stripe

from payments.sandbox.chaos import Chaos
from payments.sandbox.delivery import USER_AGENT

from .builders import session_params
from .conftest import CONNECT_WEBHOOK_SECRET, RETRY_DELAYS, WEBHOOK_SECRET


async def _open_session(client, **options):
    return await client.v1.checkout.sessions.create_async(session_params(), options or None)


async def test_paid_checkout_is_delivered_signed_to_the_platform_endpoint(
    delivering, receiver, client
):
    """A page payment POSTs checkout.session.completed, verifiable with the platform secret."""
    session = await _open_session(client)
    async with httpx.AsyncClient() as browser:
        await browser.post(session.url, data={"action": "pay", "card_number": "4242424242424242"})

    assert delivering.wait_for_deliveries(3)
    [received] = receiver.received
    assert received.path == "/platform"
    assert received.headers["content-type"] == "application/json"
    assert (
        received.headers["user-agent"]
        == USER_AGENT
        == ("Stripe/1.0 (+https://stripe.com/docs/webhooks)")
    )
    event = received.event(WEBHOOK_SECRET)
    assert event.id == delivering.last_event("checkout.session.completed")["id"]
    assert event.data.object.id == session.id
    [attempt] = delivering.deliveries
    assert (attempt.event_id, attempt.type, attempt.attempt) == (
        event.id,
        "checkout.session.completed",
        1,
    )
    assert (attempt.status, attempt.error, attempt.delivered) == (200, None, True)
    assert attempt.url.endswith("/platform")
    assert abs(attempt.timestamp - time.time()) < 10


async def test_connect_events_go_to_the_connect_endpoint_with_its_secret(
    delivering, receiver, client
):
    """Events on a connected account are routed and signed for the Connect endpoint."""
    session = await _open_session(client, stripe_account="acct_seller1")

    delivering.complete_session(session.id)

    assert delivering.wait_for_deliveries(3)
    [received] = receiver.received
    assert received.path == "/connect"
    assert received.event(CONNECT_WEBHOOK_SECRET).account == "acct_seller1"
    with pytest.raises(stripe.SignatureVerificationError):
        received.event(WEBHOOK_SECRET)


async def test_transitions_driven_from_python_are_delivered_in_order(delivering, receiver, client):
    """complete_session, succeed_async and expire_session deliver their events as they happen."""
    paid_later = await _open_session(client)
    abandoned = await _open_session(client)

    delivering.complete_session(paid_later.id, "async")
    delivering.succeed_async(paid_later.id)
    delivering.expire_session(abandoned.id)

    assert delivering.wait_for_deliveries(3)
    events = [r.event(WEBHOOK_SECRET) for r in receiver.received]
    assert [e.type for e in events if e.data.object.id == paid_later.id] == [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
    ]
    assert [e.type for e in events if e.data.object.id == abandoned.id] == [
        "checkout.session.expired"
    ]


async def test_api_driven_events_are_delivered_too(delivering, receiver, client):
    """Refund events caused by an API call reach the endpoint like Stripe's would."""
    session = await _open_session(client)
    intent_id = delivering.complete_session(session.id)["payment_intent"]

    await client.v1.refunds.create_async({"payment_intent": intent_id})

    assert delivering.wait_for_deliveries(3)
    assert [r.event(WEBHOOK_SECRET).type for r in receiver.received] == [
        "checkout.session.completed",
        "charge.refunded",
        "refund.created",
    ]


async def test_nothing_is_delivered_unless_configured(fake, receiver, client):
    """Without configure_delivery the suite's hand-delivered flow sees no surprise POSTs."""
    session = await _open_session(client)

    fake.complete_session(session.id)

    assert fake.wait_for_deliveries(1)
    await asyncio.sleep(0.1)
    assert receiver.received == []
    assert fake.deliveries == []


async def test_failed_deliveries_are_retried_with_backoff(delivering, receiver, client):
    """Non-2xx answers are retried after each retry delay until one succeeds."""
    receiver.fail_next(2)
    session = await _open_session(client)

    delivering.complete_session(session.id)

    assert delivering.wait_for_deliveries(3)
    first, second, third = receiver.received
    assert {r.event(WEBHOOK_SECRET).id for r in receiver.received} == {
        delivering.last_event("checkout.session.completed")["id"]
    }
    assert second.at - first.at >= RETRY_DELAYS[0]
    assert third.at - second.at >= RETRY_DELAYS[1]
    assert [(a.attempt, a.status) for a in delivering.deliveries] == [
        (1, 500),
        (2, 500),
        (3, 200),
    ]


async def test_delivery_gives_up_when_the_delays_run_out(delivering, receiver, client):
    """After the last retry delay the event is abandoned, as Stripe eventually does."""
    receiver.fail_next(100)
    session = await _open_session(client)

    delivering.complete_session(session.id)

    assert delivering.wait_for_deliveries(3)
    assert len(receiver.received) == 1 + len(RETRY_DELAYS)
    assert [a.status for a in delivering.deliveries] == [500, 500, 500]
    assert not any(a.delivered for a in delivering.deliveries)


async def test_network_errors_are_recorded_and_retried(delivering, client):
    """An endpoint nobody listens on yields attempts with no status and the error named."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    delivering.configure_delivery(
        f"http://127.0.0.1:{closed_port}/webhooks", None, retry_delays=RETRY_DELAYS
    )
    session = await _open_session(client)

    delivering.complete_session(session.id)

    assert delivering.wait_for_deliveries(3)
    attempts = delivering.deliveries
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert all(a.status is None and "ConnectError" in (a.error or "") for a in attempts)


async def test_unconfigured_endpoint_leaves_its_events_undelivered(
    delivering, receiver, receiver_and_url, client
):
    """With only a platform URL, Connect events are not sent anywhere."""
    delivering.configure_delivery(f"{receiver_and_url[1]}/platform", None)
    session = await _open_session(client, stripe_account="acct_seller1")

    delivering.complete_session(session.id)

    assert delivering.wait_for_deliveries(1)
    assert receiver.received == []
    assert delivering.deliveries == []


async def test_events_from_another_thread_are_delivered(delivering, receiver, client):
    """FakeStripe methods called from any thread hand their events to the delivery thread."""
    session = await _open_session(client)

    worker = threading.Thread(target=delivering.complete_session, args=(session.id,))
    worker.start()
    worker.join()

    assert delivering.wait_for_deliveries(3)
    assert len(receiver.received) == 1


async def test_reset_drops_scheduled_deliveries(delivering, receiver, client):
    """reset() forgets deliveries still waiting, so they cannot leak into the next test."""
    delivering.set_chaos(Chaos(delay=0.3))
    session = await _open_session(client)
    delivering.complete_session(session.id)

    delivering.reset()

    assert delivering.wait_for_deliveries(0.05)
    await asyncio.sleep(0.4)
    assert receiver.received == []
    assert delivering.deliveries == []
