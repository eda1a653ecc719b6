"""POST /_sandbox/faults: Stripe refusing or failing the next API calls, set from another
process (browser tests, scripts), as FakeStripe.fail_next does in Python."""

import httpx
import pytest
import stripe

from .builders import session_params

AUTH = {"Authorization": "Bearer sk_test_control"}


@pytest.fixture
async def control(base_url):
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=5) as http:
        yield http


async def test_refusal_set_over_http_reaches_the_sdk_once(control, client):
    """The next matching call gets Stripe's 400 (the SDK's InvalidRequestError); the one
    after it is answered as usual."""
    response = await control.post(
        "/_sandbox/faults",
        json={
            "status": 400,
            "type": "invalid_request_error",
            "code": "amount_too_small",
            "path_prefix": "/v1/checkout/sessions",
        },
    )

    assert response.status_code == 200, response.text
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await client.v1.checkout.sessions.create_async(session_params())
    assert refused.value.code == "amount_too_small"
    assert refused.value.http_status == 400
    session = await client.v1.checkout.sessions.create_async(session_params())
    assert session.status == "open"


async def test_faults_need_a_secret_test_key(base_url):
    """Like every control endpoint, without an accepted key it is a 401."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/_sandbox/faults", json={"status": 500})

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    "body",
    [
        {"status": 200},
        {"status": "400"},
        {"count": 0},
        {"type": "teapot_error"},
        {"code": 7},
        {"path_prefix": "/_sandbox/chaos"},
        {"retry": True},
    ],
)
async def test_malformed_fault_is_refused_in_stripes_envelope(control, client, body):
    """A fault that could not be meant is a 400 that says why, and injects nothing."""
    response = await control.post("/_sandbox/faults", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"]
    session = await client.v1.checkout.sessions.create_async(session_params())
    assert session.status == "open"
