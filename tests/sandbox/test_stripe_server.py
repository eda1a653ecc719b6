"""The sandbox's Checkout Session API, auth and wire conventions, through the real SDK."""

import socket
import time

import httpx
import pytest
import stripe

from payments.sandbox.stripe_server import FakeStripe, serve_in_thread, sign_payload

from .builders import line_item, session_params

FEE_MESSAGE = "Can only apply an application_fee_amount when the PaymentIntent"


async def test_platform_session_is_created_open_with_totals_and_sandbox_url(fake, client, base_url):
    """A created session is open/unpaid with amounts from its line items and a local pay URL."""
    before = int(time.time())

    session = await client.v1.checkout.sessions.create_async(session_params())

    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert (session.amount_subtotal, session.amount_total, session.currency) == (3000, 3000, "usd")
    assert session.payment_intent is None
    assert session.url == f"{base_url}/c/pay/{session.id}"
    assert session.success_url == "https://shop.example/success?session_id={CHECKOUT_SESSION_ID}"
    assert session.client_reference_id == "order-42"
    assert session.metadata.to_dict() == {"order_id": "order-42"}
    assert session.livemode is False
    assert session.expires_at - session.created == 24 * 60 * 60
    assert session.created >= before
    assert fake.account_of(session.id) is None
    assert fake.get_session(session.id)["id"] == session.id


async def test_destination_charge_session_keeps_fee_and_transfer_for_the_payment(fake, client):
    """With transfer_data[destination] the fee is allowed and lands on the PaymentIntent."""
    session = await client.v1.checkout.sessions.create_async(
        session_params(
            payment_intent_data={
                "application_fee_amount": 300,
                "transfer_data": {"destination": "acct_seller1"},
                "metadata": {"order_id": "order-42"},
            }
        )
    )

    fake.complete_session(session.id)

    intent = await client.v1.payment_intents.retrieve_async(
        fake.get_session(session.id)["payment_intent"]
    )
    assert intent.application_fee_amount == 300
    assert intent.transfer_data.destination == "acct_seller1"
    assert intent.metadata.to_dict() == {"order_id": "order-42"}
    assert fake.account_of(session.id) is None


async def test_direct_charge_session_lives_on_the_connected_account(fake, client):
    """With a Stripe-Account header the fee is allowed and every object belongs to that account."""
    session = await client.v1.checkout.sessions.create_async(
        session_params(payment_intent_data={"application_fee_amount": 300}),
        {"stripe_account": "acct_seller1"},
    )

    fake.complete_session(session.id)

    assert fake.account_of(session.id) == "acct_seller1"
    intent_id = fake.get_session(session.id)["payment_intent"]
    assert fake.account_of(intent_id) == "acct_seller1"
    intent = await client.v1.payment_intents.retrieve_async(
        intent_id, options={"stripe_account": "acct_seller1"}
    )
    assert intent.application_fee_amount == 300
    assert intent.transfer_data is None
    assert [s["id"] for s in fake.sessions("acct_seller1")] == [session.id]
    assert fake.sessions(None) == []


async def test_application_fee_without_connect_is_rejected_like_stripe(fake, client):
    """A fee with neither Stripe-Account nor a destination is a 400 naming the param."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.checkout.sessions.create_async(
            session_params(payment_intent_data={"application_fee_amount": 300})
        )

    assert caught.value.http_status == 400
    assert caught.value.param == "payment_intent_data[application_fee_amount]"
    assert FEE_MESSAGE in caught.value.user_message
    assert fake.sessions() == []


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"mode": None}, "mode"),
        ({"mode": "subscription"}, "mode"),
        ({"line_items": None}, "line_items"),
        ({"success_url": None}, "success_url"),
        (
            {
                "line_items": [
                    {"price_data": {"unit_amount": 1, "product_data": {"name": "x"}}, "quantity": 1}
                ]
            },
            "line_items[0][price_data][currency]",
        ),
        ({"line_items": [line_item(unit_amount=-1)]}, "line_items[0][price_data][unit_amount]"),
        ({"line_items": [line_item(quantity=0)]}, "line_items[0][quantity]"),
        (
            {"line_items": [{"price_data": {"currency": "usd", "unit_amount": 1}, "quantity": 1}]},
            "line_items[0][price_data][product_data][name]",
        ),
        (
            {"line_items": [line_item(), line_item(currency="eur")]},
            "line_items[1][price_data][currency]",
        ),
    ],
)
async def test_invalid_session_params_answer_400_with_the_param(fake, client, overrides, param):
    """Each validation Stripe applies to a payment session fails with the offending `param`."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.checkout.sessions.create_async(session_params(**overrides))

    assert caught.value.http_status == 400
    assert caught.value.param == param
    assert fake.sessions() == []


async def test_session_from_another_account_is_missing(fake, client):
    """Retrieving a platform session with a Stripe-Account header (or vice versa) is a 404."""
    platform = await client.v1.checkout.sessions.create_async(session_params())
    connected = await client.v1.checkout.sessions.create_async(
        session_params(), {"stripe_account": "acct_seller1"}
    )

    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.checkout.sessions.retrieve_async(
            platform.id, options={"stripe_account": "acct_seller1"}
        )
    with pytest.raises(stripe.InvalidRequestError) as caught_platform:
        await client.v1.checkout.sessions.retrieve_async(connected.id)

    for error, session_id in ((caught.value, platform.id), (caught_platform.value, connected.id)):
        assert error.http_status == 404
        assert error.code == "resource_missing"
        assert error.param == "id"
        assert error.user_message == f"No such checkout.session: '{session_id}'"
    same_account = await client.v1.checkout.sessions.retrieve_async(
        connected.id, options={"stripe_account": "acct_seller1"}
    )
    assert same_account.id == connected.id


async def test_expand_replaces_ids_with_objects_from_the_same_account(fake, client):
    """`expand[]` on retrieve returns the PaymentIntent and its latest charge inline."""
    session = await client.v1.checkout.sessions.create_async(session_params())
    fake.complete_session(session.id)

    expanded = await client.v1.checkout.sessions.retrieve_async(
        session.id, {"expand": ["payment_intent.latest_charge"]}
    )

    assert expanded.payment_intent.object == "payment_intent"
    assert expanded.payment_intent.latest_charge.object == "charge"
    assert expanded.payment_intent.latest_charge.amount == 3000


async def test_expire_endpoint_expires_open_sessions_only(fake, client):
    """`POST .../expire` closes an open session and a second call is a 400."""
    session = await client.v1.checkout.sessions.create_async(session_params())

    expired = await client.v1.checkout.sessions.expire_async(session.id)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.checkout.sessions.expire_async(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    assert caught.value.http_status == 400
    assert fake.last_event("checkout.session.expired")["data"]["object"]["id"] == session.id


async def test_missing_or_wrong_mode_api_key_is_an_authentication_error(make_client):
    """Only test-mode secret or restricted keys are accepted by a test-mode sandbox."""
    for api_key in ("sk_live_nope", "pk_test_publishable"):
        with pytest.raises(stripe.AuthenticationError) as caught:
            await make_client(api_key).v1.checkout.sessions.create_async(session_params())
        assert caught.value.http_status == 401

    restricted = await make_client("rk_test_restricted").v1.checkout.sessions.create_async(
        session_params()
    )
    assert restricted.object == "checkout.session"


async def test_requests_are_recorded_with_parsed_form_and_response_headers(fake, client, base_url):
    """The log shows what the SDK sent; responses carry Request-Id and echo Idempotency-Key."""
    await client.v1.checkout.sessions.create_async(
        session_params(), {"stripe_account": "acct_seller1", "idempotency_key": "ik-create-1"}
    )
    async with httpx.AsyncClient() as raw:
        response = await raw.post(
            f"{base_url}/v1/checkout/sessions",
            headers={"Authorization": "Bearer sk_test_x", "Idempotency-Key": "ik-raw"},
            content="mode=payment",
        )

    recorded = fake.requests[0]
    assert (recorded.method, recorded.path, recorded.status) == (
        "POST",
        "/v1/checkout/sessions",
        200,
    )
    assert recorded.account == "acct_seller1"
    assert recorded.idempotency_key == "ik-create-1"
    assert recorded.form["line_items"][0]["price_data"]["product_data"] == {"name": "Mug"}
    assert recorded.headers["stripe-version"] == stripe.api_version
    assert response.status_code == 400
    assert response.headers["request-id"].startswith("req_")
    assert response.headers["idempotency-key"] == "ik-raw"
    assert response.json()["error"]["param"] == "line_items"


async def test_unknown_url_is_a_404_naming_method_and_path(base_url):
    """Paths the sandbox does not implement answer Stripe's unrecognized-URL error."""
    async with httpx.AsyncClient() as raw:
        response = await raw.get(
            f"{base_url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"}
        )

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "message": "Unrecognized request URL (GET: /v1/customers).",
        }
    }


async def test_livemode_sandbox_takes_live_keys_and_issues_live_ids():
    """A livemode sandbox accepts only live keys, and its sessions and events say livemode."""
    live = FakeStripe(webhook_secret="whsec_l", connect_webhook_secret="whsec_lc", livemode=True)
    with serve_in_thread(live.app) as url:
        http_client = stripe.HTTPXClient()
        client = stripe.StripeClient(
            "sk_live_sandbox", base_addresses={"api": url}, http_client=http_client
        )
        test_key = stripe.StripeClient(
            "sk_test_sandbox", base_addresses={"api": url}, http_client=http_client
        )
        session = await client.v1.checkout.sessions.create_async(session_params())
        with pytest.raises(stripe.AuthenticationError):
            await test_key.v1.checkout.sessions.retrieve_async(session.id)
        await http_client.close_async()

    live.complete_session(session.id)
    assert session.id.startswith("cs_live_")
    assert session.livemode is True
    assert live.last_event("checkout.session.completed")["livemode"] is True
    async with httpx.AsyncClient() as raw:
        with pytest.raises(httpx.ConnectError):
            await raw.get(f"{url}/v1/events")


def test_sign_payload_verifies_with_the_sdk():
    """sign_payload produces the header stripe.WebhookSignature.verify_header accepts."""
    payload = b'{"id": "evt_1", "object": "event"}'
    now = int(time.time())

    header = sign_payload(payload, "whsec_abc", now)

    assert header.startswith(f"t={now},v1=")
    assert stripe.WebhookSignature.verify_header(payload, header, "whsec_abc", tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload + b" ", header, "whsec_abc")


async def test_serve_in_thread_can_take_a_fixed_port(fake):
    """Sandbox mode serves on a configured port, so browsers and scripts know where it is."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with serve_in_thread(fake.app, port=port) as url:
        async with httpx.AsyncClient() as raw:
            response = await raw.get(f"{url}/_sandbox/deliveries")

    assert url == f"http://127.0.0.1:{port}"
    assert response.status_code == 401


@pytest.mark.parametrize("where", ["body", "query"])
async def test_params_nested_a_thousand_levels_deep_are_a_400_in_stripes_envelope(
    fake, base_url, where
):
    """`metadata[a][a]...=1` in a form body or query string is invalid_request_error, recorded."""
    deep = "metadata" + "[a]" * 1000 + "=1"
    async with httpx.AsyncClient(base_url=base_url) as raw:
        response = await raw.post(
            "/v1/checkout/sessions" + (f"?{deep}" if where == "query" else ""),
            headers={
                "Authorization": "Bearer sk_test_x",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            content=deep if where == "body" else "mode=payment",
        )

    assert response.status_code == 400
    assert response.headers["request-id"].startswith("req_")
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", "metadata")
    assert (fake.requests[0].status, fake.requests[0].form) == (400, {})


async def test_a_method_no_route_takes_is_stripes_unrecognized_url(base_url):
    """PUT, or GET on a POST-only control, answers Stripe's JSON 404, not plain text."""
    async with httpx.AsyncClient(base_url=base_url) as raw:
        put = await raw.put("/v1/checkout/sessions", headers={"Authorization": "Bearer sk_test_x"})
        get = await raw.get("/_sandbox/chaos", headers={"Authorization": "Bearer sk_test_x"})

    assert (put.status_code, get.status_code) == (404, 404)
    assert put.json()["error"] == {
        "type": "invalid_request_error",
        "message": "Unrecognized request URL (PUT: /v1/checkout/sessions).",
    }
    assert get.json()["error"]["type"] == "invalid_request_error"
