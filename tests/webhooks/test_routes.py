"""POST /webhooks/stripe and /webhooks/stripe/connect: what is accepted, recorded and refused."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import CONNECT_SECRET, WEBHOOK_SECRET, Shop


async def paid_platform_order(shop: Shop, stock: int | None = 5) -> tuple[dict, dict, dict]:
    product = await shop.product(stock=stock)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    return product, checkout, shop.fake.last_event("checkout.session.completed")


async def test_signed_completed_event_confirms_the_order(shop: Shop, db) -> None:
    """The webhook alone confirms: paid once, stock down once, recorded as via webhook."""
    product, checkout, event = await paid_platform_order(shop)

    response = await shop.deliver(event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": "paid"}
    order = await shop.order(checkout["order_id"])
    assert order["status"] == "paid"
    assert order["confirmed_via"] == "webhook"
    assert order["amount_paid"] == 2500
    assert order["provider_payment_id"].startswith("pi_")
    assert order["paid_at"] is not None
    assert await shop.stock(product) == 4
    stored = await db.fetchrow(
        "SELECT outcome, endpoint FROM webhook_events WHERE event_id=$1", event["id"]
    )
    assert (stored["outcome"], stored["endpoint"]) == ("paid", "platform")


async def test_duplicate_event_is_a_recorded_no_op(shop: Shop, db) -> None:
    """Stripe delivering the same event again answers 200 and changes nothing."""
    product, _checkout, event = await paid_platform_order(shop)
    await shop.deliver(event)

    again = await shop.deliver(event)

    assert again.status_code == 200
    assert again.json()["outcome"] == "duplicate"
    assert await shop.stock(product) == 4
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 1


async def test_connect_endpoint_confirms_a_direct_charge(shop: Shop) -> None:
    """Direct charges complete only on the Connect endpoint, with the seller's account."""
    seller = await shop.seller("direct")
    product = await shop.product(seller=seller, stock=3)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    event = shop.fake.last_event("checkout.session.completed")
    assert event["account"] == seller["stripe_account_id"]

    response = await shop.deliver(event)

    assert response.status_code == 200
    assert (await shop.order(checkout["order_id"]))["status"] == "paid"
    assert await shop.stock(product) == 2


async def test_event_from_another_account_confirms_nothing(shop: Shop, db) -> None:
    """An event whose account is not the order's seller is recorded and ignored."""
    seller = await shop.seller("direct")
    product = await shop.product(seller=seller, stock=3)
    checkout = await shop.checkout(product)
    session = shop.fake.complete_session(checkout["session_id"], outcome="paid")
    forged = shop.fake.make_event("checkout.session.completed", session, account="acct_intruder")

    response = await shop.deliver(forged)

    assert response.status_code == 200
    assert response.json()["outcome"] == "account_mismatch"
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 3
    assert await db.fetchval("SELECT outcome FROM webhook_events") == "account_mismatch"


async def test_connected_account_event_on_the_platform_endpoint_is_ignored(shop: Shop, db) -> None:
    """The platform endpoint takes no event naming a connected account, even well signed."""
    seller = await shop.seller("direct")
    product = await shop.product(seller=seller, stock=3)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    event = shop.fake.last_event("checkout.session.completed")
    body, headers = shop.fake.signed(event, secret=WEBHOOK_SECRET)

    response = await shop.client.post("/webhooks/stripe", content=body, headers=headers)

    assert response.status_code == 200
    assert response.json()["outcome"] == "unexpected_account"
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 3


async def test_each_event_is_recorded_with_where_it_came_from(shop: Shop, db) -> None:
    """The record names the endpoint, type, account, mode and outcome of each event."""
    seller = await shop.seller("direct")
    checkout = await shop.checkout(await shop.product(seller=seller))
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    connect_event = shop.fake.last_event("checkout.session.completed")
    platform_event = shop.fake.make_event("customer.created", {"id": "cus_1"})

    for event in (connect_event, platform_event):
        assert (await shop.deliver(event)).status_code == 200

    rows = await db.fetch(
        "SELECT event_id, provider, endpoint, type, account, livemode, outcome "
        "FROM webhook_events ORDER BY endpoint"
    )
    assert [dict(r) for r in rows] == [
        {
            "event_id": connect_event["id"],
            "provider": "stripe",
            "endpoint": "connect",
            "type": "checkout.session.completed",
            "account": seller["stripe_account_id"],
            "livemode": False,
            "outcome": "paid",
        },
        {
            "event_id": platform_event["id"],
            "provider": "stripe",
            "endpoint": "platform",
            "type": "customer.created",
            "account": None,
            "livemode": False,
            "outcome": "unhandled_type",
        },
    ]


async def test_platform_event_for_a_direct_charge_session_confirms_nothing(shop: Shop, db) -> None:
    """A direct-charge session only counts when its event comes from the seller's account."""
    seller = await shop.seller("direct")
    product = await shop.product(seller=seller, stock=3)
    checkout = await shop.checkout(product)
    session = shop.fake.complete_session(checkout["session_id"], outcome="paid")
    platform_event = shop.fake.make_event("checkout.session.completed", session, account=None)

    response = await shop.deliver(platform_event)

    assert response.status_code == 200
    assert response.json()["outcome"] == "account_mismatch"
    assert await db.fetchval("SELECT outcome FROM webhook_events") == "account_mismatch"
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 3


async def test_connect_endpoint_refuses_the_platform_secret(shop: Shop, db) -> None:
    """Each endpoint checks its own secret: a Connect event signed with the platform's is 400."""
    seller = await shop.seller("direct")
    checkout = await shop.checkout(await shop.product(seller=seller))
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    event = shop.fake.last_event("checkout.session.completed")
    body, headers = shop.fake.signed(event, secret=WEBHOOK_SECRET)

    response = await shop.client.post("/webhooks/stripe/connect", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0


@pytest.mark.parametrize(
    "settings_overrides", [{"stripe_webhook_secret": f"whsec_new_secret,{WEBHOOK_SECRET}"}]
)
async def test_old_secret_still_accepted_while_rotating(shop: Shop) -> None:
    """During a rotation both secrets verify, so no event is lost in between."""
    _product, _checkout, event = await paid_platform_order(shop)

    old = await shop.deliver(event)
    body, headers = shop.fake.signed(
        shop.fake.make_event("customer.created", {"id": "cus_1"}), secret="whsec_new_secret"
    )
    new = await shop.client.post("/webhooks/stripe", content=body, headers=headers)

    assert old.json()["outcome"] == "paid"
    assert new.status_code == 200
    assert new.json()["outcome"] == "unhandled_type"


@pytest.mark.parametrize(
    "change",
    [
        {"amount_total": 10**20},
        {"amount_total": -5},
        {"payment_intent": "pi_" + "x" * 400},
        {"id": "cs_" + "x" * 400},
    ],
)
async def test_signed_event_with_unusable_values_is_recorded_not_applied(
    shop: Shop, db, change
) -> None:
    """Absurd values in a signed event answer 200 (no endless retries), change nothing."""
    product, checkout, event = await paid_platform_order(shop)
    session = {**event["data"]["object"], **change}

    response = await shop.deliver(shop.fake.make_event("checkout.session.completed", session))

    assert response.status_code == 200
    assert response.json()["outcome"] == "unusable_event"
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 5


@pytest.mark.parametrize(
    "change",
    [{"amount_total": "2500"}, {"amount_total": 2500.0}, {"payment_intent": 12345}],
    ids=["amount-as-text", "amount-as-float", "payment-intent-as-number"],
)
async def test_signed_event_with_values_of_the_wrong_type_is_answered_2xx(
    shop: Shop, db, change
) -> None:
    """Wrong JSON types in a signed session never cause a 5xx: the event is recorded once."""
    _product, _checkout, event = await paid_platform_order(shop)
    session = {**event["data"]["object"], **change}
    odd = shop.fake.make_event("checkout.session.completed", session)

    response = await shop.deliver(odd)

    assert response.status_code == 200
    recorded = "SELECT count(*) FROM webhook_events WHERE event_id=$1"
    assert await db.fetchval(recorded, odd["id"]) == 1


async def test_livemode_mismatch_is_recorded_and_ignored(shop: Shop, db) -> None:
    """A live event reaching a test-mode service changes nothing."""
    _product, checkout, event = await paid_platform_order(shop)
    live = shop.fake.make_event(
        "checkout.session.completed", event["data"]["object"], livemode=True
    )

    response = await shop.deliver(live)

    assert response.status_code == 200
    assert response.json()["outcome"] == "livemode_mismatch"
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await db.fetchval("SELECT outcome FROM webhook_events") == "livemode_mismatch"


async def test_unknown_event_types_are_acknowledged(shop: Shop, db) -> None:
    """Types we do not handle answer 200 so Stripe stops retrying, and are recorded."""
    event = shop.fake.make_event("customer.created", {"id": "cus_1", "object": "customer"})

    response = await shop.deliver(event)

    assert response.status_code == 200
    assert response.json()["outcome"] == "unhandled_type"
    assert await db.fetchval("SELECT type FROM webhook_events") == "customer.created"


async def test_event_for_a_session_we_never_made_is_recorded(shop: Shop, db) -> None:
    """Sessions created outside this service are acknowledged and ignored."""
    foreign = {
        "id": "cs_test_foreign",
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 500,
        "currency": "usd",
        "payment_intent": "pi_foreign",
        "metadata": {},
    }
    event = shop.fake.make_event("checkout.session.completed", foreign)

    response = await shop.deliver(event)

    assert response.status_code == 200
    assert response.json()["outcome"] == "unknown_checkout"
    assert await db.fetchval("SELECT outcome FROM webhook_events") == "unknown_checkout"


async def test_connect_event_without_account_is_ignored(shop: Shop) -> None:
    """The Connect endpoint only takes events that name their connected account."""
    _product, checkout, event = await paid_platform_order(shop)
    body, headers = shop.fake.signed(event, secret=CONNECT_SECRET)

    response = await shop.client.post("/webhooks/stripe/connect", content=body, headers=headers)

    assert response.status_code == 200
    assert response.json()["outcome"] == "missing_account"
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, headers: (body, {}), id="no-signature"),
        pytest.param(
            lambda body, headers: (body.replace(b'"paid"', b'"PAID"', 1), headers),
            id="body-changed",
        ),
        pytest.param(
            lambda body, headers: (body, {"Stripe-Signature": "t=1,v1=deadbeef"}), id="garbage"
        ),
        pytest.param(
            lambda body, headers: (body, {"Stripe-Signature": "nonsense"}), id="malformed"
        ),
    ],
)
async def test_bad_signatures_are_refused_and_write_nothing(shop: Shop, db, tamper) -> None:
    """Anything not signed by Stripe answers 400 and leaves no trace."""
    _product, checkout, event = await paid_platform_order(shop)
    body, headers = tamper(*shop.fake.signed(event))

    response = await shop.client.post("/webhooks/stripe", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"


async def test_wrong_secret_is_refused(shop: Shop, db) -> None:
    """A platform event signed with the Connect secret (or any other) is refused."""
    _product, _checkout, event = await paid_platform_order(shop)
    body, headers = shop.fake.signed(event, secret=CONNECT_SECRET)

    response = await shop.client.post("/webhooks/stripe", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0


async def test_stale_signature_is_refused(shop: Shop, db) -> None:
    """A replay of an old, correctly signed event is outside the tolerance and refused."""
    _product, _checkout, event = await paid_platform_order(shop)

    response = await shop.deliver(event, timestamp=int(time.time()) - 3600)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2, 3]",
        b'{"id": "evt_1", "type": "x"}',
        b'{"id": "evt_1", "data": {"object": {}}}',
        b'{"type": "x", "data": {"object": {}}}',
        b'{"id": 5, "type": "x", "data": {"object": {}}}',
        b'{"id": "evt_1", "type": "x", "data": {"object": "nope"}}',
        json.dumps({"id": "e" * 300, "type": "x", "data": {"object": {}}}).encode(),
        b"\xff\xfe not utf-8",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
async def test_signed_body_that_is_not_an_event_is_refused(shop: Shop, db, payload) -> None:
    """A validly signed body that is not an event gets 400, never a 500, and writes nothing."""
    from payments.sandbox.stripe_server import sign_payload

    headers = {"Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET, int(time.time()))}

    response = await shop.client.post("/webhooks/stripe", content=payload, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0


@pytest.mark.parametrize("settings_overrides", [{"webhook_max_body_bytes": 2048}])
async def test_oversized_body_is_refused_with_413(shop: Shop, db) -> None:
    """Bodies over WEBHOOK_MAX_BODY_BYTES are refused before anything is parsed."""
    event = shop.fake.make_event("customer.created", {"id": "cus_1", "padding": "x" * 4096})
    body, headers = shop.fake.signed(event)

    response = await shop.client.post("/webhooks/stripe", content=body, headers=headers)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0


@pytest.mark.parametrize("settings_overrides", [{"webhook_max_body_bytes": 2048}])
async def test_oversized_streamed_body_without_length_is_refused(shop: Shop) -> None:
    """A chunked body with no Content-Length is cut off at the limit too."""

    async def chunks():
        for _ in range(10):
            yield b"x" * 1024

    response = await shop.client.post(
        "/webhooks/stripe", content=chunks(), headers={"Stripe-Signature": "t=1,v1=00"}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/webhooks/stripe", "/webhooks/stripe/connect"])
async def test_non_ascii_signature_header_is_refused_with_400(shop: Shop, db, path) -> None:
    """A raw non-ASCII byte in Stripe-Signature is a bad signature (400), never a 500."""
    event = shop.fake.make_event("customer.created", {"id": "cus_1", "object": "customer"})
    body, _headers = shop.fake.signed(event)

    response = await shop.client.post(
        path, content=body, headers=[(b"Stripe-Signature", b"t=1,v1=\xe9")]
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0


@pytest.mark.parametrize("value", ["cs_\x00", "cs_\ud800", "cs test", "cs_é"])
@pytest.mark.parametrize("field", ["id", "payment_intent"])
async def test_session_ids_that_are_not_stripe_ids_make_the_event_unusable(
    shop: Shop, db, field, value
) -> None:
    """NUL, surrogates, spaces or non-ASCII in a signed session's ids never reach Postgres."""
    product, checkout, event = await paid_platform_order(shop)
    session = {**event["data"]["object"], field: value}

    response = await shop.deliver(shop.fake.make_event("checkout.session.completed", session))

    assert response.status_code == 200
    assert response.json()["outcome"] == "unusable_event"
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 5


@pytest.mark.parametrize("value", ["x\x00", "x\ud800", "", "x y"])
@pytest.mark.parametrize("field", ["id", "type", "account"])
async def test_event_ids_that_are_not_stripe_ids_are_refused(shop: Shop, db, field, value) -> None:
    """An event whose own id, type or account is not plain ASCII is a 400; nothing is written."""
    event = shop.fake.make_event("customer.created", {"id": "cus_1", "object": "customer"})
    body, headers = shop.fake.signed({**event, field: value}, secret=WEBHOOK_SECRET)

    response = await shop.client.post("/webhooks/stripe", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0


@pytest.mark.parametrize(
    "number",
    [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"9" * 4301],
    ids=["NaN", "inf", "-inf", "1e400", "huge integer"],
)
@pytest.mark.parametrize("path", ["/webhooks/stripe", "/webhooks/stripe/connect"])
async def test_signed_body_with_a_number_json_has_not_is_refused(
    shop: Shop, db, path, number
) -> None:
    """NaN, Infinity or an unreadably long number in a signed body is a 400, never a 500."""
    from payments.sandbox.stripe_server import sign_payload

    event = shop.fake.make_event("customer.created", {"id": "cus_1", "object": "customer"})
    payload = json.dumps(event).encode().replace(b'"cus_1"', number, 1)
    secret = CONNECT_SECRET if path.endswith("/connect") else WEBHOOK_SECRET
    headers = {"Stripe-Signature": sign_payload(payload, secret, int(time.time()))}

    response = await shop.client.post(path, content=payload, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0


@pytest.mark.parametrize("livemode", ["true", "false", 1, 0, None, "absent"])
async def test_event_whose_livemode_is_not_a_boolean_is_refused(shop: Shop, db, livemode) -> None:
    """`"livemode": "true"` (or 1, null, nothing) is not a Stripe event: 400, no order paid."""
    product, checkout, event = await paid_platform_order(shop)
    tampered = {key: value for key, value in event.items() if key != "livemode"}
    if livemode != "absent":
        tampered["livemode"] = livemode

    response = await shop.deliver(tampered)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_webhook"
    assert await db.fetchval("SELECT count(*) FROM webhook_events") == 0
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 5
