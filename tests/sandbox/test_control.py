"""The /_sandbox control endpoints, for scripts and browser tests in another process."""

import httpx
import pytest

from payments.sandbox.chaos import Chaos
from payments.sandbox.delivery import WITHHELD

from .builders import session_params
from .conftest import WEBHOOK_SECRET

AUTH = {"Authorization": "Bearer sk_test_control"}


@pytest.fixture
async def control(base_url):
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=5) as http:
        yield http


async def _open_session(client, **overrides):
    return await client.v1.checkout.sessions.create_async(session_params(**overrides))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/_sandbox/chaos"),
        ("GET", "/_sandbox/deliveries"),
        ("GET", "/_sandbox/sessions/cs_test_x"),
        ("POST", "/_sandbox/sessions/cs_test_x/complete"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer pk_test_public", "Bearer sk_live_real"])
async def test_control_endpoints_need_a_secret_test_key(base_url, method, path, authorization):
    """Without an accepted secret key every control endpoint is a 401 in Stripe's envelope."""
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.request(method, path, headers=headers, json={"outcome": "paid"})

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


async def test_restricted_test_keys_are_accepted(base_url, fake):
    """rk_test_ keys work here as they do on /v1."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get(
            "/_sandbox/deliveries", headers={"Authorization": "Bearer rk_test_limited"}
        )

    assert (response.status_code, response.json()) == (200, [])


async def test_session_is_readable_whatever_its_account(control, client):
    """GET /_sandbox/sessions/{id} returns the session, also one on a connected account."""
    session = await client.v1.checkout.sessions.create_async(
        session_params(), {"stripe_account": "acct_seller1"}
    )

    response = await control.get(f"/_sandbox/sessions/{session.id}")
    missing = await control.get("/_sandbox/sessions/cs_test_nope")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["status"]) == (session.id, "open")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "resource_missing"


@pytest.mark.parametrize(
    ("outcome", "payment_status"),
    [("paid", "paid"), ("free", "no_payment_required")],
)
async def test_complete_finishes_like_the_buyer_buttons(
    fake, control, client, outcome, payment_status
):
    """POST .../complete with paid or free completes the session at once."""
    session = await _open_session(client, allow_promotion_codes=True)

    response = await control.post(
        f"/_sandbox/sessions/{session.id}/complete", json={"outcome": outcome}
    )

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["payment_status"]) == (
        "complete",
        payment_status,
    )
    assert fake.get_session(session.id)["payment_status"] == payment_status


async def test_complete_free_is_refused_where_promotion_codes_are_not_allowed(
    fake, control, client
):
    """outcome=free redeems a promotion code, so it needs a session that allows them."""
    session = await _open_session(client)

    response = await control.post(
        f"/_sandbox/sessions/{session.id}/complete", json={"outcome": "free"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"] == "This checkout does not accept promotion codes."
    assert fake.get_session(session.id)["status"] == "open"
    assert fake.events() == []


@pytest.mark.parametrize(
    ("outcome", "settled_type"),
    [
        ("async_succeed", "checkout.session.async_payment_succeeded"),
        ("async_fail", "checkout.session.async_payment_failed"),
    ],
)
async def test_complete_async_settles_later(fake, control, client, outcome, settled_type):
    """The async outcomes complete unpaid now and settle after async_settle_seconds."""
    session = await _open_session(client)

    response = await control.post(
        f"/_sandbox/sessions/{session.id}/complete", json={"outcome": outcome}
    )

    assert response.json()["payment_status"] == "unpaid"
    assert fake.wait_for_deliveries(3)
    assert fake.events()[0]["type"] == settled_type


async def test_complete_refuses_closed_unknown_and_bad_requests(fake, control, client):
    """A paid session, an unknown id, an unknown outcome and a non-JSON body are all refused."""
    session = await _open_session(client)
    fake.complete_session(session.id)
    url = f"/_sandbox/sessions/{session.id}/complete"

    closed = await control.post(url, json={"outcome": "paid"})
    unknown = await control.post(
        "/_sandbox/sessions/cs_test_nope/complete", json={"outcome": "paid"}
    )
    bad_outcome = await control.post(url, json={"outcome": "maybe"})
    not_json = await control.post(url, content=b"outcome=paid")

    assert closed.status_code == 400
    assert "is complete, not open" in closed.json()["error"]["message"]
    assert unknown.status_code == 404
    assert (bad_outcome.status_code, bad_outcome.json()["error"]["param"]) == (400, "outcome")
    assert not_json.status_code == 400
    assert len(fake.events()) == 1


async def test_chaos_endpoint_sets_the_global_default(delivering, control, client, receiver):
    """POST /_sandbox/chaos without a session id changes every session's deliveries."""
    response = await control.post("/_sandbox/chaos", json={"never": True})
    session = await _open_session(client)
    delivering.complete_session(session.id)

    assert response.status_code == 200
    assert response.json() == {"session_id": None, "chaos": Chaos(never=True).to_json()}
    assert delivering.wait_for_deliveries(1)
    assert [a.error for a in delivering.deliveries] == [WITHHELD]
    assert receiver.received == []


async def test_chaos_endpoint_sets_one_sessions_chaos(delivering, control, client, receiver):
    """With session_id the knobs apply to that session only."""
    chaotic = await _open_session(client)
    plain = await _open_session(client)

    response = await control.post(
        "/_sandbox/chaos", json={"session_id": chaotic.id, "duplicate": True, "delay": 0.05}
    )
    delivering.complete_session(chaotic.id)
    delivering.complete_session(plain.id)

    assert response.json()["chaos"]["duplicate"] is True
    assert response.json()["chaos"]["delay"] == 0.05
    assert delivering.wait_for_deliveries(3)
    ids = sorted(r.event(WEBHOOK_SECRET).data.object.id for r in receiver.received)
    assert ids == sorted([chaotic.id, chaotic.id, plain.id])


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"explode": True}, 400, "unknown chaos knob 'explode'"),
        ({"delay": "soon"}, 400, "chaos delay must be a number"),
        ({"fail_first": -1}, 400, "chaos fail_first must be >= 0"),
        ({"duplicate": "yes"}, 400, "chaos duplicate must be true or false"),
        ({"session_id": "cs_test_nope"}, 404, "No such checkout.session"),
    ],
)
async def test_chaos_endpoint_rejects_bad_knobs(fake, control, body, status, message):
    """Unknown knobs, wrong types and unknown sessions are refused with a clear message."""
    response = await control.post("/_sandbox/chaos", json=body)

    assert response.status_code == status
    assert message in response.json()["error"]["message"]


async def test_deliveries_endpoint_lists_attempts_as_json(delivering, control, client):
    """GET /_sandbox/deliveries mirrors FakeStripe.deliveries for out-of-process readers."""
    session = await _open_session(client)
    delivering.complete_session(session.id)
    assert delivering.wait_for_deliveries(3)

    response = await control.get("/_sandbox/deliveries")

    [attempt] = response.json()
    event_id = delivering.last_event("checkout.session.completed")["id"]
    assert attempt["event_id"] == event_id
    assert attempt["type"] == "checkout.session.completed"
    assert attempt["url"].endswith("/platform")
    assert (attempt["attempt"], attempt["status"], attempt["error"]) == (1, 200, None)
    assert attempt["delivered"] is True
    assert isinstance(attempt["timestamp"], float)


DEEP_JSON = b"[" * 1000 + b"]" * 1000


@pytest.mark.parametrize(
    "body",
    [DEEP_JSON, b'{"outcome": ' + DEEP_JSON + b"}", b'{"outcome": NaN}', b"{"],
    ids=["deep array", "deep value", "NaN", "malformed"],
)
@pytest.mark.parametrize("path", ["/_sandbox/chaos", "/_sandbox/sessions/{id}/complete"])
async def test_control_bodies_that_are_not_json_objects_are_400_in_stripes_envelope(
    fake, control, client, path, body
):
    """Nested a thousand levels deep, NaN or malformed: 400 invalid_request_error, as JSON."""
    session = await _open_session(client)

    response = await control.post(
        path.format(id=session.id), content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith("The request body must be JSON")
    assert fake.get_session(session.id)["status"] == "open"
