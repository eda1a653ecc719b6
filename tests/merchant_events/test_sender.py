"""Sending the shop's events to real HTTP receivers: signed, retried, given up, shared."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from payments.db import Database, create_engine
from payments.merchant_events import signing
from tests.conftest import wait_until
from tests.merchant_events.conftest import (
    add_endpoint,
    attempts_of,
    deliveries_to,
    make_due,
    now,
    the_delivery_to,
)
from tests.merchant_events.receiver import Request


def verified(secret: str, request: Request) -> dict:
    """The body, once its signature checked out with `secret` (raises otherwise)."""
    payload: dict = Webhook(secret).verify(request.body, request.headers)
    return payload


async def test_event_is_posted_signed_with_its_body(shop, db, receivers) -> None:
    """The POST carries the event's id, type, time and data, signed with the endpoint's secret."""
    receiver = await receivers()
    endpoint = await add_endpoint(db, receiver.url)
    order = await shop.paid()

    assert await shop.app.state.event_sender.drain() == 1

    (request,) = receiver.requests
    event = await db.fetchrow("SELECT * FROM merchant_events")
    body = verified(endpoint.secret, request)
    assert request.method == "POST"
    assert request.webhook_id == event["id"]
    assert body["id"] == event["id"]
    assert body["type"] == "order.paid"
    assert body["created_at"] == event["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert body["data"]["id"] == order["id"]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("payments-webhooks/")
    delivery = await the_delivery_to(db, endpoint)
    assert delivery["status"] == "succeeded"
    assert delivery["delivered_at"] is not None
    assert delivery["next_attempt_at"] is None
    assert [(a["status_code"], a["error"]) for a in await attempts_of(db, delivery["id"])] == [
        (200, None)
    ]


async def test_fast_path_event_is_rendered_stored_and_sent(shop, db, receivers) -> None:
    """An `order.paid` written in SQL (data NULL, a snapshot) is sent as the admin API shows
    the order, and its data is stored for every later attempt."""
    receiver = await receivers()
    await add_endpoint(db, receiver.url)
    order = await shop.paid()
    assert await db.fetchval("SELECT data IS NULL AND snapshot IS NOT NULL FROM merchant_events")

    await shop.app.state.event_sender.drain()

    (request,) = receiver.requests
    data = await db.fetchval("SELECT data FROM merchant_events")
    assert json.loads(request.body)["data"] == json.loads(data) == order
    assert request.body.endswith(b'"data":' + data.encode() + b"}")


async def test_receiver_down_gets_the_event_later_with_the_same_webhook_id(
    shop, db, receivers
) -> None:
    """Two 503s, then the retry that is due gets through: same webhook-id, valid signature."""
    down, up = await receivers(), await receivers()
    down_endpoint = await add_endpoint(db, down.url)
    up_endpoint = await add_endpoint(db, up.url)
    down.answer(503, 503)
    await shop.paid()
    sender = shop.app.state.event_sender

    assert await sender.drain() == 2
    failed = await the_delivery_to(db, down_endpoint)
    assert failed["status"] == "failed"
    assert failed["last_status_code"] == 503
    assert failed["next_attempt_at"] > now() + timedelta(seconds=5)  # 10 s ±20%
    assert await sender.drain() == 0  # not due yet
    for _ in range(2):
        await make_due(db)
        assert await sender.drain() == 1

    delivery = await the_delivery_to(db, down_endpoint)
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == 3
    assert [a["status_code"] for a in await attempts_of(db, delivery["id"])] == [503, 503, 200]
    assert len({r.webhook_id for r in down.requests}) == 1
    assert [verified(down_endpoint.secret, r)["id"] for r in down.requests] == [
        down.requests[0].webhook_id
    ] * 3
    assert len(up.requests) == 1
    assert (await the_delivery_to(db, up_endpoint))["attempts"] == 1


async def test_out_of_attempts_is_dead_and_an_admin_retry_sends_it_again(
    shop, db, receivers
) -> None:
    """After the 11th failure the delivery is dead; retried by an admin, it gets through with
    the same webhook-id and a fresh count of attempts."""
    receiver = await receivers()
    endpoint = await add_endpoint(db, receiver.url)
    receiver.answer(*[500] * 11)
    await shop.paid()
    sender = shop.app.state.event_sender

    for _ in range(11):
        await make_due(db)
        assert await sender.drain() == 1

    dead = await the_delivery_to(db, endpoint)
    assert (dead["status"], dead["attempts"], dead["next_attempt_at"]) == ("dead", 11, None)
    await make_due(db)
    assert await sender.drain() == 0

    response = await shop.client.post(
        f"/admin/webhook-deliveries/{dead['id']}/retry", headers=shop.admin
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert response.json()["attempts"] == 0
    assert await sender.drain() == 1

    delivery = await the_delivery_to(db, endpoint)
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 1)
    assert len(receiver.requests) == 12
    assert {r.webhook_id for r in receiver.requests} == {dead["event_id"]}
    verified(endpoint.secret, receiver.requests[-1])


async def test_410_disables_the_endpoint_and_nothing_more_is_sent(
    shop, db, receivers, senders
) -> None:
    """410 Gone: the endpoint is disabled, its other open deliveries die unsent, and later
    events are not sent to it; another endpoint is not affected."""
    gone, other = await receivers(), await receivers()
    gone_endpoint = await add_endpoint(db, gone.url)
    other_endpoint = await add_endpoint(db, other.url)
    gone.answer(410)
    await shop.paid()
    await shop.paid()
    sender = senders(per_endpoint=1)  # one at a time: the second waits behind the 410

    await sender.drain()
    await shop.paid()
    await sender.drain()

    assert len(gone.requests) == 1
    assert len(other.requests) == 3
    row = await db.fetchrow("SELECT * FROM webhook_endpoints WHERE id = $1", gone_endpoint.id)
    assert row["disabled_at"] is not None
    assert "410" in row["disabled_reason"]
    first, second = await deliveries_to(db, gone_endpoint)
    assert (first["status"], first["last_status_code"]) == ("dead", 410)
    assert (second["status"], second["attempts"]) == ("dead", 0)
    assert "disabled" in second["last_error"]
    assert all(d["status"] == "succeeded" for d in await deliveries_to(db, other_endpoint))
    other_row = await db.fetchrow(
        "SELECT * FROM webhook_endpoints WHERE id = $1", other_endpoint.id
    )
    assert other_row["disabled_at"] is None


async def test_redirect_is_not_followed(shop, db, receivers) -> None:
    """A 302 is a failed attempt: the place it points to gets nothing."""
    redirecting, elsewhere = await receivers(), await receivers()
    redirecting.answer(302)
    redirecting.redirect_to = elsewhere.url
    endpoint = await add_endpoint(db, redirecting.url)
    await shop.paid()

    await shop.app.state.event_sender.drain()

    assert len(redirecting.requests) == 1
    assert elsewhere.requests == []
    delivery = await the_delivery_to(db, endpoint)
    assert delivery["status"] == "failed"
    assert delivery["last_status_code"] == 302
    assert delivery["last_error"] == "redirect not followed (HTTP 302)"


async def test_hanging_endpoint_does_not_delay_another(shop, db, receivers, senders) -> None:
    """While one endpoint holds its POST (and its cap of one), the other endpoint gets all its
    events; the held endpoint's own later events wait for it."""
    hanging, other = await receivers(), await receivers()
    release = hanging.hold_next()
    hanging_endpoint = await add_endpoint(db, hanging.url)
    await add_endpoint(db, other.url)
    for _ in range(3):
        await shop.paid()
    sender = senders(per_endpoint=1, concurrency=2)

    draining = asyncio.create_task(sender.drain())
    await wait_until(lambda: len(other.requests) == 3)

    assert len(hanging.requests) == 1
    assert not release.is_set()
    assert not draining.done()
    release.set()
    assert await draining == 6
    assert len(hanging.requests) == 3
    assert {d["status"] for d in await deliveries_to(db, hanging_endpoint)} == {"succeeded"}


async def test_timeout_is_a_failed_attempt(shop, db, receivers, senders) -> None:
    """An endpoint that does not answer within the timeout: failed, retried later."""
    receiver = await receivers()
    receiver.hold_next()
    endpoint = await add_endpoint(db, receiver.url)
    await shop.paid()

    await senders(timeout_seconds=0.2).drain()

    delivery = await the_delivery_to(db, endpoint)
    assert delivery["status"] == "failed"
    assert delivery["last_status_code"] is None
    assert delivery["last_error"] == "timed out after 0.2 s"


async def test_two_senders_deliver_each_delivery_once(shop, db, receivers, senders) -> None:
    """Two replicas draining the same table at once: every event reaches every endpoint once."""
    shop_receivers = [await receivers() for _ in range(3)]
    for receiver in shop_receivers:
        await add_endpoint(db, receiver.url)
    for _ in range(4):
        await shop.paid()
    replica = Database(create_engine(shop.app.state.settings))
    try:
        attempted = await asyncio.gather(
            shop.app.state.event_sender.drain(), senders(replica).drain()
        )
    finally:
        await replica.dispose()

    assert sum(attempted) == 12
    events = {row["id"] for row in await db.fetch("SELECT id FROM merchant_events")}
    for receiver in shop_receivers:
        assert sorted(r.webhook_id for r in receiver.requests) == sorted(events)
    assert await db.fetchval("SELECT count(*) FROM delivery_attempts") == 12
    assert await db.fetchval("SELECT count(*) FROM event_deliveries WHERE attempts = 1") == 12


async def test_claim_whose_lease_ran_out_records_nothing(shop, db, receivers, senders) -> None:
    """A sender stalled past its lease loses the delivery to another; its late answer (500)
    is not recorded over the other's success."""
    receiver = await receivers()
    stalled_answer = receiver.hold_next()
    receiver.answer(500, 200)
    endpoint = await add_endpoint(db, receiver.url)
    await shop.paid()
    stalled = asyncio.create_task(shop.app.state.event_sender.drain())
    await wait_until(lambda: len(receiver.requests) == 1)

    await make_due(db)  # the lease ran out
    assert await senders().drain() == 1
    stalled_answer.set()
    await stalled

    delivery = await the_delivery_to(db, endpoint)
    assert (delivery["status"], delivery["attempts"], delivery["claim"]) == ("succeeded", 1, None)
    assert [a["status_code"] for a in await attempts_of(db, delivery["id"])] == [200]


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://localhost:{port}/hooks", "could not connect"),
        ("http://127.0.0.1:{port}/hooks", "only https"),
    ],
    ids=["name-resolving-to-loopback", "http"],
)
async def test_without_allow_private_loopback_is_refused_at_connect(
    shop, db, receivers, senders, url, error
) -> None:
    """An endpoint saved before the rules changed (or behind a name that now resolves to
    loopback) gets nothing: the attempt fails, saying no more than an unreachable one."""
    receiver = await receivers()
    endpoint = await add_endpoint(db, url.format(port=receiver.port))
    await shop.paid()

    assert await senders(allow_private=False).drain() == 1

    assert receiver.requests == []
    delivery = await the_delivery_to(db, endpoint)
    assert delivery["status"] == "failed"
    assert delivery["last_status_code"] is None
    assert error in delivery["last_error"]


async def test_link_local_is_refused_even_with_allow_private(shop, db, receivers) -> None:
    """Cloud metadata's address is never reached, whatever the settings."""
    await receivers()
    endpoint = await add_endpoint(db, "http://169.254.169.254/latest/meta-data/")
    await shop.paid()

    await shop.app.state.event_sender.drain()

    delivery = await the_delivery_to(db, endpoint)
    assert delivery["status"] == "failed"
    assert delivery["last_error"].startswith("could not connect")


@pytest.mark.parametrize("previous_valid", [True, False], ids=["overlap", "expired"])
async def test_previous_secret_signs_until_it_expires(shop, db, receivers, previous_valid) -> None:
    """After a rotation both secrets sign; once the previous one expires, only the new one."""
    receiver = await receivers()
    previous = signing.new_secret()
    expires = now() + (timedelta(hours=1) if previous_valid else -timedelta(seconds=1))
    endpoint = await add_endpoint(
        db, receiver.url, previous_secret=previous, previous_secret_expires_at=expires
    )
    await shop.paid()

    await shop.app.state.event_sender.drain()

    (request,) = receiver.requests
    verified(endpoint.secret, request)
    assert len(request.headers["webhook-signature"].split()) == (2 if previous_valid else 1)
    if previous_valid:
        verified(previous, request)
    else:
        with pytest.raises(WebhookVerificationError):
            verified(previous, request)


async def test_disabled_and_deleted_endpoints_get_nothing(shop, db, receivers) -> None:
    """Deliveries already waiting for an endpoint disabled or deleted since are not sent."""
    disabled, deleted, live = await receivers(), await receivers(), await receivers()
    disabled_endpoint = await add_endpoint(db, disabled.url)
    deleted_endpoint = await add_endpoint(db, deleted.url)
    await add_endpoint(db, live.url)
    await shop.paid()
    await db.execute(
        "UPDATE webhook_endpoints SET disabled_at = now() WHERE id = $1", disabled_endpoint.id
    )
    await db.execute(
        "UPDATE webhook_endpoints SET deleted_at = now() WHERE id = $1", deleted_endpoint.id
    )

    assert await shop.app.state.event_sender.drain() == 1

    assert (len(disabled.requests), len(deleted.requests), len(live.requests)) == (0, 0, 1)


@pytest.mark.parametrize(
    "settings_overrides",
    [{"merchant_webhooks_allow_private": True, "merchant_webhooks_enabled": True}],
)
async def test_background_loop_sends_events_as_they_are_committed(shop, db, receivers) -> None:
    """With the sender running, a payment's event reaches the endpoint without a drain."""
    receiver = await receivers()
    await add_endpoint(db, receiver.url)

    order = await shop.paid()

    await wait_until(lambda: len(receiver.requests) == 1)
    assert json.loads(receiver.requests[0].body)["data"]["id"] == order["id"]
