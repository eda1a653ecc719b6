"""The /_sandbox controls for refunds and disputes: what Stripe's side does, over HTTP."""

import httpx
import pytest

from .builders import session_params

AUTH = {"Authorization": "Bearer sk_test_control"}
SELLER = {"stripe_account": "acct_controlseller"}


@pytest.fixture
async def control(base_url):
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=5) as http:
        yield http


async def _paid(fake, client, options=None) -> str:
    """A paid 30.00 USD checkout; returns its PaymentIntent id."""
    session = await client.v1.checkout.sessions.create_async(session_params(), options)
    return fake.complete_session(session.id)["payment_intent"]


@pytest.mark.parametrize(
    "path",
    [
        "/_sandbox/refunds",
        "/_sandbox/refunds/re_x/settle",
        "/_sandbox/refunds/re_x/fail",
        "/_sandbox/refund_status",
        "/_sandbox/disputes",
        "/_sandbox/disputes/dp_x",
        "/_sandbox/deliveries/drop",
    ],
)
async def test_new_controls_need_a_secret_test_key(base_url, path):
    """Without a key every new control is a 401 in Stripe's envelope."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(path, json={})

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


async def test_dashboard_refund_over_http(fake, control, client):
    """POST /_sandbox/refunds refunds on the payment's account; too much is amount_too_large."""
    intent = await _paid(fake, client, SELLER)

    made = await control.post("/_sandbox/refunds", json={"payment_intent": intent, "amount": 800})
    too_much = await control.post(
        "/_sandbox/refunds", json={"payment_intent": intent, "amount": 2201}
    )

    assert made.status_code == 200, made.text
    refund = await client.v1.refunds.retrieve_async(made.json()["id"], options=SELLER)
    assert (refund.amount, refund.payment_intent, refund.metadata.to_dict()) == (800, intent, {})
    assert fake.last_event("refund.created")["account"] == "acct_controlseller"
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_too_large"


async def test_pending_refund_settled_and_failed_over_http(fake, control, client):
    """refund_status=pending, then settle one refund and fail another with a reason."""
    intent = await _paid(fake, client)
    pending = await control.post("/_sandbox/refund_status", json={"status": "pending"})
    first = await client.v1.refunds.create_async({"payment_intent": intent, "amount": 1000})
    second = await client.v1.refunds.create_async({"payment_intent": intent, "amount": 1000})

    settled = await control.post(f"/_sandbox/refunds/{first.id}/settle")
    failed = await control.post(
        f"/_sandbox/refunds/{second.id}/fail", json={"failure_reason": "declined"}
    )
    settle_again = await control.post(f"/_sandbox/refunds/{first.id}/settle", json={})

    assert pending.json() == {"status": "pending"}
    assert (first.status, second.status) == ("pending", "pending")
    assert settled.json()["status"] == "succeeded"
    assert (failed.json()["status"], failed.json()["failure_reason"]) == ("failed", "declined")
    assert (await client.v1.charges.retrieve_async(first.charge)).amount_refunded == 1000
    assert settle_again.status_code == 400
    assert fake.last_event("refund.failed")["data"]["object"]["id"] == second.id


async def test_dispute_opened_and_decided_over_http(fake, control, client):
    """POST /_sandbox/disputes opens one; POST /_sandbox/disputes/{id} moves it until closed."""
    intent = await _paid(fake, client)

    opened = await control.post(
        "/_sandbox/disputes", json={"payment_intent": intent, "reason": "duplicate"}
    )
    dispute_id = opened.json()["id"]
    reviewing = await control.post(
        f"/_sandbox/disputes/{dispute_id}", json={"status": "under_review"}
    )
    lost = await control.post(f"/_sandbox/disputes/{dispute_id}", json={"status": "lost"})
    reopened = await control.post(f"/_sandbox/disputes/{dispute_id}", json={"status": "won"})

    assert (opened.status_code, opened.json()["reason"]) == (200, "duplicate")
    assert reviewing.json()["status"] == "under_review"
    assert lost.json()["status"] == "lost"
    assert reopened.status_code == 400
    assert reopened.json()["error"]["param"] == "status"
    assert (await client.v1.disputes.retrieve_async(dispute_id)).status == "lost"
    assert len(fake.events("charge.dispute.closed")) == 1


HOSTILE = [
    ("/_sandbox/refunds", {}, 400, "payment_intent"),
    ("/_sandbox/refunds", {"payment_intent": 42}, 400, "payment_intent"),
    ("/_sandbox/refunds", {"payment_intent": ""}, 400, "payment_intent"),
    ("/_sandbox/refunds", {"payment_intent": "pi_nope"}, 404, "payment_intent"),
    ("/_sandbox/refunds", {"payment_intent": "{pi}", "amount": "500"}, 400, "amount"),
    ("/_sandbox/refunds", {"payment_intent": "{pi}", "amount": True}, 400, "amount"),
    ("/_sandbox/refunds", {"payment_intent": "{pi}", "amount": 5.5}, 400, "amount"),
    ("/_sandbox/refunds", {"payment_intent": "{pi}", "amount": -1}, 400, "amount"),
    ("/_sandbox/refunds", {"payment_intent": "{pi}", "reason": ["x"]}, 400, "reason"),
    ("/_sandbox/refunds", {"payment_intent": "{pi}", "reason": "whim"}, 400, "reason"),
    ("/_sandbox/refunds", {"payment_intent": "{pi}", "memo": "x"}, 400, None),
    ("/_sandbox/refunds/re_nope/settle", {}, 404, "id"),
    ("/_sandbox/refunds/re_nope/fail", {}, 404, "id"),
    ("/_sandbox/refunds/re_nope/fail", {"failure_reason": 7}, 400, "failure_reason"),
    ("/_sandbox/refunds/{re}/fail", {"failure_reason": "cosmic_rays"}, 400, "failure_reason"),
    ("/_sandbox/refunds/{re}/settle", {"now": True}, 400, None),
    ("/_sandbox/refund_status", {"status": "canceled"}, 400, "status"),
    ("/_sandbox/refund_status", {"status": None}, 400, "status"),
    ("/_sandbox/disputes", {"payment_intent": None}, 400, "payment_intent"),
    ("/_sandbox/disputes", {"payment_intent": "pi_nope"}, 404, "payment_intent"),
    ("/_sandbox/disputes", {"payment_intent": "{pi}", "reason": "meh"}, 400, "reason"),
    ("/_sandbox/disputes", {"payment_intent": "{pi}", "amount": 0}, 400, "amount"),
    ("/_sandbox/disputes", {"payment_intent": "{pi}", "amount": 10**30}, 400, "amount"),
    ("/_sandbox/disputes/dp_nope", {"status": "won"}, 404, "id"),
    ("/_sandbox/disputes/{dp}", {}, 400, "status"),
    ("/_sandbox/disputes/{dp}", {"status": 3}, 400, "status"),
    ("/_sandbox/disputes/{dp}", {"status": "needs_response"}, 400, "status"),
]


@pytest.mark.parametrize(("path", "body", "status", "param"), HOSTILE)
async def test_hostile_input_is_a_clean_4xx(fake, control, client, path, body, status, param):
    """Wrong types, unknown ids and fields, impossible moves: Stripe's envelope, never a 500,
    and nothing recorded."""
    intent = await _paid(fake, client)
    refund = fake.refund_in_dashboard(intent, amount=100)
    other = await _paid(fake, client)
    dispute = fake.open_dispute(other)
    ids = {"{pi}": intent, "{re}": refund["id"], "{dp}": dispute["id"]}
    for placeholder, real in ids.items():
        path = path.replace(placeholder, real)
        body = {k: real if v == placeholder else v for k, v in body.items()}
    before = len(fake.events())

    response = await control.post(path, json=body)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error.get("param") == param
    assert len(fake.events()) == before


@pytest.mark.parametrize("content", [b"{", b"[1, 2]", b'"pi_1"', b"NaN"])
async def test_bodies_that_are_not_json_objects_are_400(control, content):
    """A malformed or non-object body is refused in Stripe's envelope."""
    response = await control.post(
        "/_sandbox/disputes", content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
