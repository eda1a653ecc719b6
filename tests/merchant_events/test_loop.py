"""The whole loop through the admin API: register, pay, refund, rotate; what the shop's
receiver gets, verified with the `standardwebhooks` library."""

from __future__ import annotations

import json
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import Shop
from tests.merchant_events.receiver import Receiver


async def register(shop: Shop, receiver: Receiver, *events: str) -> dict[str, Any]:
    created = await shop.client.post(
        "/admin/webhook-endpoints",
        json={"url": receiver.url, "events": list(events) or ["*"]},
        headers=shop.admin,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


def types(receiver: Receiver) -> list[str]:
    return [json.loads(request.body)["type"] for request in receiver.requests]


async def test_rotation_signs_with_both_secrets_for_the_overlap(shop: Shop, receivers) -> None:
    """After a rotation, each delivery verifies with the new secret and with the old one
    (two `v1,` signatures), so a receiver still holding the old one misses nothing."""
    receiver = await receivers()
    endpoint = await register(shop, receiver)
    order = await shop.paid()
    await shop.app.state.event_sender.drain()
    rotated = await shop.client.post(
        f"/admin/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=shop.admin
    )
    await shop.refund(order["id"], amount=700)
    await shop.app.state.event_sender.drain()

    before, *after = receiver.requests
    assert Webhook(endpoint["secret"]).verify(before.body, before.headers)["type"] == "order.paid"
    with pytest.raises(WebhookVerificationError):
        Webhook(rotated.json()["secret"]).verify(before.body, before.headers)
    assert [r.headers["webhook-signature"].count("v1,") for r in after] == [2]
    for secret in (endpoint["secret"], rotated.json()["secret"]):
        event = Webhook(secret).verify(after[0].body, after[0].headers)
        assert event["type"] == "order.partially_refunded"
        assert event["data"]["amount_refunded"] == 700


async def test_endpoint_for_order_refunded_receives_nothing_else(shop: Shop, receivers) -> None:
    """Paid, refunded in two parts (each refund succeeds): the `order.refunded` endpoint
    gets one POST; the `*` endpoint every step."""
    only_refunded, everything = await receivers(), await receivers()
    await register(shop, only_refunded, "order.refunded")
    await register(shop, everything)
    order = await shop.paid()
    await shop.refund(order["id"], amount=1000)
    await shop.drain_outbox()
    await shop.refund(order["id"])
    await shop.drain_outbox()
    await shop.app.state.event_sender.drain()

    assert types(only_refunded) == ["order.refunded"]
    assert sorted(types(everything)) == sorted(
        [
            "order.paid",
            "order.partially_refunded",
            "refund.succeeded",
            "order.refunded",
            "refund.succeeded",
        ]
    )
    (request,) = only_refunded.requests
    assert json.loads(request.body)["data"]["status"] == "refunded"
