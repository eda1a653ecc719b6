"""Idempotency keys and injected failures, as the service's retry logic will meet them."""

import asyncio
import time

import pytest
import stripe

from .builders import session_params


async def _wait_for_requests(fake, count: int, within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while len(fake.requests) < count:
        assert time.monotonic() < deadline, "sandbox never received the request"
        await asyncio.sleep(0.01)


async def test_same_key_and_params_replays_the_first_response(fake, client):
    """A replay returns the same object with Idempotent-Replayed and creates nothing new."""
    options = {"idempotency_key": "order-42-checkout"}
    first = await client.v1.checkout.sessions.create_async(session_params(), options)

    second = await client.v1.checkout.sessions.create_async(session_params(), options)

    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert len(fake.sessions()) == 1


async def test_same_key_on_another_account_is_a_different_request(fake, client):
    """Keys are scoped per account, so the platform and a connected account do not collide."""
    options = {"idempotency_key": "shared-key"}
    platform = await client.v1.checkout.sessions.create_async(session_params(), options)

    connected = await client.v1.checkout.sessions.create_async(
        session_params(), {**options, "stripe_account": "acct_seller1"}
    )

    assert connected.id != platform.id
    assert len(fake.sessions()) == 2


async def test_reusing_a_key_with_other_params_is_an_idempotency_error(fake, client):
    """Same key, different body: Stripe refuses with 400 idempotency_error."""
    options = {"idempotency_key": "order-42-checkout"}
    await client.v1.checkout.sessions.create_async(session_params(), options)

    with pytest.raises(stripe.IdempotencyError) as caught:
        await client.v1.checkout.sessions.create_async(
            session_params(client_reference_id="order-43"), options
        )

    assert caught.value.http_status == 400
    assert len(fake.sessions()) == 1


async def test_key_in_use_by_a_running_request_is_a_409(fake, client):
    """A concurrent duplicate gets 409 idempotency_key_in_use while the first one finishes."""
    fake.delay_next(1, 0.3)
    options = {"idempotency_key": "order-42-checkout"}
    first = asyncio.create_task(client.v1.checkout.sessions.create_async(session_params(), options))
    await _wait_for_requests(fake, 1)

    with pytest.raises(stripe.APIError) as caught:
        await client.v1.checkout.sessions.create_async(session_params(), options)
    created = await first

    assert caught.value.http_status == 409
    assert caught.value.error.type == "idempotency_error"
    assert caught.value.error.code == "idempotency_key_in_use"
    assert [s["id"] for s in fake.sessions()] == [created.id]


async def test_injected_failure_raises_api_error_and_changes_nothing(fake, client):
    """fail_next answers the error envelope, is recorded, and does not create the object."""
    fake.fail_next(1, status=500)

    with pytest.raises(stripe.APIError) as caught:
        await client.v1.checkout.sessions.create_async(session_params())

    assert caught.value.http_status == 500
    assert caught.value.request_id.startswith("req_")
    assert fake.sessions() == []
    assert [r.status for r in fake.requests] == [500]


async def test_sdk_retries_an_injected_500_with_the_same_key_and_succeeds(fake, make_client):
    """With max_network_retries the SDK retries a 500; the failed attempt was not saved."""
    fake.fail_next(1)
    client = make_client(max_network_retries=2)

    session = await client.v1.checkout.sessions.create_async(session_params())

    attempts = fake.requests
    assert [r.status for r in attempts] == [500, 200]
    assert attempts[0].idempotency_key == attempts[1].idempotency_key
    assert [s["id"] for s in fake.sessions()] == [session.id]


async def test_should_retry_false_stops_the_sdk_from_retrying(fake, make_client):
    """`Stripe-Should-Retry: false` overrides the SDK's retry-on-5xx default."""
    fake.fail_next(1, status=503, should_retry=False)
    client = make_client(max_network_retries=2)

    with pytest.raises(stripe.APIError):
        await client.v1.checkout.sessions.create_async(session_params())

    assert [r.status for r in fake.requests] == [503]


async def test_injected_failure_only_hits_matching_paths(fake, client):
    """A path_prefix confines the fault, so other endpoints keep working."""
    fake.fail_next(
        1, status=402, path_prefix="/v1/refunds", error_type="card_error", code="card_declined"
    )

    session = await client.v1.checkout.sessions.create_async(session_params())
    with pytest.raises(stripe.CardError) as caught:
        await client.v1.refunds.create_async({"charge": "ch_unknown"})

    assert session.status == "open"
    assert caught.value.code == "card_declined"


async def test_timed_out_create_still_takes_effect(fake, make_client):
    """A client timeout is an APIConnectionError, yet the delayed POST creates the session."""
    client = make_client(timeout=0.2)
    fake.delay_next(1, 0.5)

    with pytest.raises(stripe.APIConnectionError):
        await client.v1.checkout.sessions.create_async(session_params())

    deadline = time.monotonic() + 2
    while not fake.sessions():
        assert time.monotonic() < deadline, "the delayed request never completed"
        await asyncio.sleep(0.02)
    assert len(fake.sessions()) == 1


async def test_reset_forgets_objects_requests_keys_and_faults(fake, client):
    """reset() returns the sandbox to empty so tests cannot leak into each other."""
    await client.v1.checkout.sessions.create_async(session_params(), {"idempotency_key": "k"})
    fake.fail_next(5)

    fake.reset()
    session = await client.v1.checkout.sessions.create_async(
        session_params(client_reference_id="other"), {"idempotency_key": "k"}
    )

    assert session.client_reference_id == "other"
    assert [r.status for r in fake.requests] == [200]
    assert fake.events() == []
