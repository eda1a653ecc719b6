"""The admin API of the shop's webhook endpoints."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

RECEIVER = "https://shop.example.com/webhooks"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """As deployed: MERCHANT_WEBHOOKS_ALLOW_PRIVATE is off unless an operator sets it."""
    return {}


async def _create(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> httpx.Response:
    body.setdefault("url", RECEIVER)
    body.setdefault("events", ["*"])
    return await client.post("/admin/webhook-endpoints", json=body, headers=admin)


async def test_created_endpoint_shows_its_secret_once(client, admin_headers) -> None:
    """The secret is in the 201 answer, Standard Webhooks' format, and never listed again."""
    created = await _create(client, admin_headers, events=["order.paid"], description="fulfil")
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["enabled"] is True
    assert endpoint["events"] == ["order.paid"]
    listed = await client.get("/admin/webhook-endpoints", headers=admin_headers)
    assert [e["id"] for e in listed.json()["data"]] == [endpoint["id"]]
    assert "secret" not in listed.json()["data"][0]
    one = await client.get(f"/admin/webhook-endpoints/{endpoint['id']}", headers=admin_headers)
    assert "secret" not in one.json()
    assert one.json()["description"] == "fulfil"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost:8443/hooks",
        "https://10.1.2.3/hooks",
        "https://[::1]/hooks",
        "http://shop.example.com/hooks",
    ],
)
async def test_private_or_plain_http_url_is_refused_without_the_setting(
    client, admin_headers, url
) -> None:
    """Without MERCHANT_WEBHOOKS_ALLOW_PRIVATE, only https to a public address is taken."""
    refused = await _create(client, admin_headers, url=url)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_endpoint_url"
    listed = await client.get("/admin/webhook-endpoints", headers=admin_headers)
    assert listed.json()["data"] == []


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://user:password@shop.example.com/hooks",
        "ftp://shop.example.com/hooks",
        "https:///hooks",
        "https://shop.example.com:99999/",
        "https://shop.example.com/a b",
        "https://shöp.example.com/",
    ],
)
async def test_url_that_can_never_be_sent_to_is_refused(client, admin_headers, url) -> None:
    """Metadata addresses, credentials, other schemes and broken URLs: a clear 422."""
    refused = await _create(client, admin_headers, url=url)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid_endpoint_url"


async def test_url_with_control_characters_is_refused(client, admin_headers) -> None:
    refused = await _create(client, admin_headers, url="https://shop.example.com/\u0000")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "events",
    [[], ["order.shipped"], ["order.paid", "order.paid"], ["*", "order.paid"], "order.paid"],
)
async def test_event_types_must_be_known_and_listed_once(client, admin_headers, events) -> None:
    refused = await _create(client, admin_headers, events=events)
    assert refused.status_code == 422, refused.text


async def test_rotation_returns_a_new_secret_and_keeps_the_old_one_a_day(
    client, admin_headers, db
) -> None:
    """The previous secret stays, to sign beside the new one, for 24 hours."""
    endpoint = (await _create(client, admin_headers)).json()
    rotated = await client.post(
        f"/admin/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=admin_headers
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != endpoint["secret"]
    row = await db.fetchrow(
        "SELECT secret, previous_secret, previous_secret_expires_at - now() AS left"
        " FROM webhook_endpoints WHERE id = $1",
        uuid.UUID(endpoint["id"]),
    )
    assert row["secret"] == rotated.json()["secret"]
    assert row["previous_secret"] == endpoint["secret"]
    assert 23 * 3600 < row["left"].total_seconds() <= 24 * 3600


async def test_deleted_endpoint_is_gone_from_the_api(client, admin_headers) -> None:
    first = (await _create(client, admin_headers)).json()
    second = (await _create(client, admin_headers, url=RECEIVER + "/2")).json()
    deleted = await client.delete(f"/admin/webhook-endpoints/{first['id']}", headers=admin_headers)
    assert deleted.status_code == 204
    listed = await client.get("/admin/webhook-endpoints", headers=admin_headers)
    assert [e["id"] for e in listed.json()["data"]] == [second["id"]]
    again = await client.delete(f"/admin/webhook-endpoints/{first['id']}", headers=admin_headers)
    assert again.status_code == 404
    rotate = await client.post(
        f"/admin/webhook-endpoints/{first['id']}/rotate-secret", headers=admin_headers
    )
    assert rotate.status_code == 404


async def test_patch_changes_only_what_was_sent(client, admin_headers) -> None:
    endpoint = (await _create(client, admin_headers, description="all")).json()
    patched = await client.patch(
        f"/admin/webhook-endpoints/{endpoint['id']}",
        json={"events": ["order.refunded"], "enabled": False},
        headers=admin_headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["order.refunded"]
    assert patched.json()["enabled"] is False
    assert patched.json()["disabled_reason"] == "disabled by an admin"
    assert patched.json()["url"] == RECEIVER
    assert patched.json()["description"] == "all"
    enabled = await client.patch(
        f"/admin/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=admin_headers
    )
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    refused = await client.patch(
        f"/admin/webhook-endpoints/{endpoint['id']}",
        json={"url": "http://10.0.0.1/"},
        headers=admin_headers,
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_endpoint_url"


async def test_endpoints_need_the_admin_key(client) -> None:
    assert (await client.get("/admin/webhook-endpoints")).status_code == 401
    created = await client.post("/admin/webhook-endpoints", json={"url": RECEIVER, "events": ["*"]})
    assert created.status_code == 401
