"""The admin's view of deliveries (`/admin/webhook-deliveries`) and the retry of a dead one."""

from __future__ import annotations

import uuid

import pytest

from tests.merchant_events.conftest import add_endpoint, deliveries_to, make_due

FIELDS = {
    "id",
    "event_id",
    "event_type",
    "endpoint_id",
    "status",
    "attempts",
    "last_status_code",
    "last_duration_ms",
    "last_error",
    "last_attempt_at",
    "next_attempt_at",
    "delivered_at",
    "created_at",
}


@pytest.fixture
async def sent(shop, db, receivers):
    """Two paid orders, each sent to an endpoint that takes it and one that answers 500."""
    ok, failing = await receivers(), await receivers()
    failing.answer(*[500] * 10)
    ok_endpoint = await add_endpoint(db, ok.url)
    failing_endpoint = await add_endpoint(db, failing.url)
    orders = [await shop.paid(), await shop.paid()]
    await shop.app.state.event_sender.drain()
    return ok_endpoint, failing_endpoint, orders


async def listed(shop, **params) -> list[dict]:
    response = await shop.client.get("/admin/webhook-deliveries", params=params, headers=shop.admin)
    assert response.status_code == 200, response.text
    data: list[dict] = response.json()["data"]
    return data


async def test_list_is_newest_first_with_every_field(shop, db, sent) -> None:
    """All deliveries, the later order's first, each with its event's type."""
    events = [
        row["id"] for row in await db.fetch("SELECT id FROM merchant_events ORDER BY created_at")
    ]

    found = await listed(shop)

    assert [d["event_id"] for d in found] == [events[1]] * 2 + [events[0]] * 2
    assert all(set(d) == FIELDS for d in found)
    assert {d["event_type"] for d in found} == {"order.paid"}


async def test_list_filters_by_endpoint(shop, sent) -> None:
    """Only the failing endpoint's deliveries: failed, with when they are tried next."""
    _, failing_endpoint, _ = sent

    found = await listed(shop, endpoint_id=str(failing_endpoint.id))

    assert len(found) == 2
    assert {d["endpoint_id"] for d in found} == {str(failing_endpoint.id)}
    assert {(d["status"], d["attempts"], d["last_status_code"]) for d in found} == {
        ("failed", 1, 500)
    }
    assert all(d["next_attempt_at"] and d["delivered_at"] is None for d in found)
    assert {d["last_error"] for d in found} == {"HTTP 500"}


async def test_list_filters_by_status(shop, sent) -> None:
    """Only the succeeded ones: delivered, and nothing more to come."""
    ok_endpoint, _, _ = sent

    found = await listed(shop, status="succeeded")

    assert len(found) == 2
    assert {d["endpoint_id"] for d in found} == {str(ok_endpoint.id)}
    assert all(d["delivered_at"] and d["next_attempt_at"] is None for d in found)
    assert {d["last_status_code"] for d in found} == {200}


async def test_list_limit_keeps_the_newest(shop, sent) -> None:
    """`limit=1`: the newest delivery only."""
    newest = (await listed(shop))[0]

    assert await listed(shop, limit=1) == [newest]


async def test_unknown_status_filter_is_422(shop, sent) -> None:
    """A status that does not exist is refused, not ignored."""
    response = await shop.client.get(
        "/admin/webhook-deliveries", params={"status": "lost"}, headers=shop.admin
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


async def test_detail_lists_every_attempt_newest_first(shop, db, sent) -> None:
    """One delivery with its two failed attempts, the latest first."""
    _, failing_endpoint, _ = sent
    await make_due(db)
    await shop.app.state.event_sender.drain()
    delivery = (await deliveries_to(db, failing_endpoint))[0]

    response = await shop.client.get(
        f"/admin/webhook-deliveries/{delivery['id']}", headers=shop.admin
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == FIELDS | {"history"}
    assert (body["id"], body["attempts"]) == (str(delivery["id"]), 2)
    history = body["history"]
    assert [a["status_code"] for a in history] == [500, 500]
    assert history[0]["attempted_at"] > history[1]["attempted_at"]
    assert history[0]["attempted_at"] == body["last_attempt_at"]
    assert {a["error"] for a in history} == {"HTTP 500"}


@pytest.mark.parametrize("path", ["", "/retry"])
async def test_unknown_delivery_is_404(shop, sent, path) -> None:
    """No such delivery: 404, for reading it and for retrying it."""
    url = f"/admin/webhook-deliveries/{uuid.uuid4()}{path}"
    response = await (shop.client.post if path else shop.client.get)(url, headers=shop.admin)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_deliveries_need_the_admin_key(shop, sent) -> None:
    """Without the admin key: 401."""
    response = await shop.client.get("/admin/webhook-deliveries")

    assert response.status_code == 401


@pytest.mark.parametrize("status", ["failed", "succeeded"])
async def test_only_a_dead_delivery_is_retried(shop, db, sent, status) -> None:
    """Retrying one still being tried, or delivered: 409 `delivery_not_dead`, nothing changes."""
    delivery = (await listed(shop, status=status))[0]

    response = await shop.client.post(
        f"/admin/webhook-deliveries/{delivery['id']}/retry", headers=shop.admin
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "delivery_not_dead"
    assert (await listed(shop, status=status))[0] == delivery


@pytest.mark.parametrize("column", ["disabled_at", "deleted_at"])
async def test_a_dead_delivery_to_an_endpoint_gone_is_not_retried(shop, db, sent, column) -> None:
    """Its endpoint disabled or deleted: 409 `endpoint_not_live`, and it stays dead."""
    _, failing_endpoint, _ = sent
    delivery = (await deliveries_to(db, failing_endpoint))[0]
    await db.execute("UPDATE event_deliveries SET status = 'dead' WHERE id = $1", delivery["id"])
    await db.execute(
        f"UPDATE webhook_endpoints SET {column} = now() WHERE id = $1",  # noqa: S608
        failing_endpoint.id,
    )

    response = await shop.client.post(
        f"/admin/webhook-deliveries/{delivery['id']}/retry", headers=shop.admin
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "endpoint_not_live"
    assert (
        await db.fetchval("SELECT status FROM event_deliveries WHERE id = $1", delivery["id"])
        == "dead"
    )


async def test_retry_changes_only_that_delivery(shop, db, sent) -> None:
    """The retried delivery is pending again, due now; the other dead one stays dead."""
    _, failing_endpoint, _ = sent
    first, second = await deliveries_to(db, failing_endpoint)
    await db.execute(
        "UPDATE event_deliveries SET status = 'dead', next_attempt_at = NULL, attempts = 11"
        " WHERE endpoint_id = $1",
        failing_endpoint.id,
    )

    response = await shop.client.post(
        f"/admin/webhook-deliveries/{first['id']}/retry", headers=shop.admin
    )

    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["status"], body["attempts"], body["event_id"]) == (
        "pending",
        0,
        first["event_id"],
    )
    assert body["next_attempt_at"] is not None
    statuses = {
        row["id"]: row["status"]
        for row in await db.fetch("SELECT id, status FROM event_deliveries")
    }
    assert statuses[first["id"]] == "pending"
    assert statuses[second["id"]] == "dead"
