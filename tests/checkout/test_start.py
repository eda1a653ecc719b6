"""POST /checkout/sessions: pricing from the catalog, Connect routing, idempotency, failures."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from tests.conftest import Shop, wait_until


def session_creates(shop: Shop) -> list:
    return [
        r
        for r in shop.fake.requests
        if r.method == "POST" and r.path == "/v1/checkout/sessions" and r.status == 200
    ]


async def test_platform_checkout_is_priced_from_the_catalog(shop: Shop, db) -> None:
    """The amount comes from our catalog, the order is pending, and stock is untouched."""
    product = await shop.product(unit_amount=2500, stock=5)

    answer = await shop.checkout(product, quantity=2)

    assert answer["status"] == "pending"
    assert answer["session_id"].startswith("cs_test_")
    assert answer["checkout_url"]
    [create] = session_creates(shop)
    assert create.account is None
    assert create.form["mode"] == "payment"
    line = create.form["line_items"][0]
    assert line["price_data"]["unit_amount"] == "2500"
    assert line["price_data"]["currency"] == "usd"
    assert line["quantity"] == "2"
    assert create.form["client_reference_id"] == answer["order_id"]
    assert create.form["metadata"]["order_id"] == answer["order_id"]
    assert "{CHECKOUT_SESSION_ID}" in create.form["success_url"]
    assert create.form["allow_promotion_codes"] == "true"
    assert "application_fee_amount" not in create.form.get("payment_intent_data", {})
    assert create.idempotency_key == f"checkout-session:{answer['order_id']}"
    order = await shop.order(answer["order_id"])
    assert (order["status"], order["amount_total"], order["currency"]) == ("pending", 5000, "usd")
    assert order["provider_session_id"] == answer["session_id"]
    assert await shop.stock(product) == 5


async def test_direct_charge_session_lives_on_the_connected_account(shop: Shop) -> None:
    """Direct charges: Stripe-Account header plus the platform fee on the PaymentIntent."""
    seller = await shop.seller("direct", fee_bps=1000)
    product = await shop.product(unit_amount=1999, seller=seller)

    answer = await shop.checkout(product)

    [create] = session_creates(shop)
    assert create.account == seller["stripe_account_id"]
    assert create.headers["stripe-account"] == seller["stripe_account_id"]
    intent = create.form["payment_intent_data"]
    assert intent["application_fee_amount"] == "200"  # 10% of 1999, rounded half up
    assert "transfer_data" not in intent
    assert shop.fake.account_of(answer["session_id"]) == seller["stripe_account_id"]


async def test_destination_charge_session_lives_on_the_platform(shop: Shop) -> None:
    """Destination charges: created on the platform, transferred to the seller, fee kept."""
    seller = await shop.seller("destination", fee_bps=250)
    product = await shop.product(unit_amount=10000, seller=seller)

    answer = await shop.checkout(product)

    [create] = session_creates(shop)
    assert create.account is None
    intent = create.form["payment_intent_data"]
    assert intent["transfer_data"]["destination"] == seller["stripe_account_id"]
    assert intent["application_fee_amount"] == "250"
    assert shop.fake.account_of(answer["session_id"]) is None


async def test_buyer_email_and_cancel_page_are_sent_to_stripe(shop: Shop) -> None:
    """Stripe prefills the buyer's email and sends a buyer who gives up back to the shop."""
    product = await shop.product()

    response = await shop.client.post(
        "/checkout/sessions",
        json={
            "items": [{"product_id": product["id"], "quantity": 1}],
            "customer_email": "buyer@example.com",
        },
    )

    assert response.status_code == 201
    [create] = session_creates(shop)
    assert create.form["customer_email"] == "buyer@example.com"
    assert create.form["cancel_url"].startswith("http://shop.test/")
    assert (await shop.order(response.json()["order_id"]))["customer_email"] == "buyer@example.com"


async def test_seller_without_a_fee_pays_none(shop: Shop) -> None:
    """fee_bps 0: the session carries no application fee, not even one cent."""
    seller = await shop.seller("destination", fee_bps=0)
    product = await shop.product(unit_amount=10000, seller=seller)

    answer = await shop.checkout(product)

    [create] = session_creates(shop)
    assert "application_fee_amount" not in create.form["payment_intent_data"]
    assert not (await shop.order(answer["order_id"]))["application_fee_amount"]


async def test_items_of_two_sellers_are_refused(shop: Shop, db) -> None:
    """One order, one seller: mixing sellers is a clear 422 and creates nothing."""
    first = await shop.product(seller=await shop.seller("direct"))
    second = await shop.product(seller=await shop.seller("destination"))

    response = await shop.client.post(
        "/checkout/sessions",
        json={
            "items": [
                {"product_id": first["id"], "quantity": 1},
                {"product_id": second["id"], "quantity": 1},
            ]
        },
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "mixed_sellers"
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert session_creates(shop) == []


async def test_quantity_above_stock_is_refused(shop: Shop, db) -> None:
    """Asking for more than is left answers 409 out_of_stock and creates nothing."""
    product = await shop.product(stock=2)

    response = await shop.client.post(
        "/checkout/sessions", json={"items": [{"product_id": product["id"], "quantity": 3}]}
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "out_of_stock"
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert session_creates(shop) == []


async def test_repeated_product_lines_are_added_up_against_stock(shop: Shop, db) -> None:
    """Two lines of one product count together against its stock."""
    product = await shop.product(stock=3)

    response = await shop.client.post(
        "/checkout/sessions",
        json={
            "items": [
                {"product_id": product["id"], "quantity": 2},
                {"product_id": product["id"], "quantity": 2},
            ]
        },
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "out_of_stock"
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert session_creates(shop) == []


async def test_items_in_two_currencies_are_refused(shop: Shop, db) -> None:
    """One order, one currency: mixing them is a clear 422 and creates nothing."""
    dollars = await shop.product(currency="usd")
    euros = await shop.product(currency="eur")

    response = await shop.client.post(
        "/checkout/sessions",
        json={
            "items": [
                {"product_id": dollars["id"], "quantity": 1},
                {"product_id": euros["id"], "quantity": 1},
            ]
        },
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "mixed_currencies"
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert session_creates(shop) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": []},
        {"items": [{"product_id": "not-a-uuid", "quantity": 1}]},
        {"items": [{"product_id": str(uuid.uuid4()), "quantity": 0}]},
        {"items": [{"product_id": str(uuid.uuid4()), "quantity": "1"}]},
        {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}], "amount": 1},
        {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}], "customer_email": "x"},
    ],
)
async def test_malformed_checkout_requests_get_a_clear_422(shop: Shop, db, body) -> None:
    """Bad input is refused with a message and changes nothing (the client never sets prices)."""
    response = await shop.client.post("/checkout/sessions", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert session_creates(shop) == []


async def test_unknown_product_is_refused(shop: Shop, db) -> None:
    """A product id that is not in the catalog answers 422 unknown_product."""
    response = await shop.client.post(
        "/checkout/sessions", json={"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}]}
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_product"
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert session_creates(shop) == []


async def test_retry_with_the_same_key_returns_the_same_order(shop: Shop, db) -> None:
    """A retried request answers as the first did and creates nothing new."""
    product = await shop.product()

    first = await shop.checkout(product, **{"Idempotency-Key": "cart-42"})
    second = await shop.checkout(product, **{"Idempotency-Key": "cart-42"})

    assert second == first
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert len(session_creates(shop)) == 1


async def test_retry_with_the_same_key_after_a_sell_out_returns_the_same_order(
    shop: Shop, db
) -> None:
    """The first request made the order; its retry answers it, even with the stock gone since."""
    product = await shop.product(stock=1)
    first = await shop.checkout(product, **{"Idempotency-Key": "cart-50"})
    rival = await shop.checkout(product)
    shop.fake.complete_session(rival["session_id"], outcome="paid")
    assert (await shop.verify(rival["session_id"])).json()["paid"] is True

    retried = await shop.checkout(product, **{"Idempotency-Key": "cart-50"})

    assert retried == first
    assert await db.fetchval("SELECT count(*) FROM orders") == 2


async def test_same_key_with_another_body_is_refused(shop: Shop, db) -> None:
    """Reusing a key for a different cart is an error, not a silent replay."""
    product = await shop.product()
    await shop.checkout(product, **{"Idempotency-Key": "cart-43"})

    response = await shop.client.post(
        "/checkout/sessions",
        json={"items": [{"product_id": product["id"], "quantity": 2}]},
        headers={"Idempotency-Key": "cart-43"},
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_stripe_failure_answers_502_and_the_same_key_completes_the_order(
    shop: Shop, db
) -> None:
    """A Stripe outage gives a clear 502; retrying with the key finishes the same order."""
    product = await shop.product()
    shop.fake.fail_next(1, status=500, path_prefix="/v1/checkout/sessions")

    failed = await shop.client.post(
        "/checkout/sessions",
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
        headers={"Idempotency-Key": "cart-44"},
    )
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "provider_error"
    assert await db.fetchval("SELECT status FROM orders") == "pending"

    retried = await shop.checkout(product, **{"Idempotency-Key": "cart-44"})

    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert retried["order_id"] == str(await db.fetchval("SELECT id FROM orders"))
    assert len(session_creates(shop)) == 1


@pytest.mark.parametrize("charge_type", ["direct", "destination"])
async def test_retry_after_a_stripe_failure_keeps_the_connect_routing(
    shop: Shop, charge_type: str
) -> None:
    """The order resumed with its key still pays its seller, with the platform's fee."""
    seller = await shop.seller(charge_type, fee_bps=1000)
    product = await shop.product(unit_amount=3000, seller=seller)
    shop.fake.fail_next(1, status=500, path_prefix="/v1/checkout/sessions")
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    failed = await shop.client.post(
        "/checkout/sessions", json=body, headers={"Idempotency-Key": "cart-49"}
    )
    assert failed.status_code == 502

    answer = await shop.checkout(product, **{"Idempotency-Key": "cart-49"})

    [create] = session_creates(shop)
    intent = create.form["payment_intent_data"]
    assert intent["application_fee_amount"] == "300"
    if charge_type == "direct":
        assert create.account == seller["stripe_account_id"]
        assert shop.fake.account_of(answer["session_id"]) == seller["stripe_account_id"]
    else:
        assert intent["transfer_data"]["destination"] == seller["stripe_account_id"]
        assert shop.fake.account_of(answer["session_id"]) is None


@pytest.mark.parametrize("settings_overrides", [{"stripe_timeout_seconds": 0.3}])
async def test_stripe_timeout_then_retry_reuses_the_session_stripe_made(shop: Shop, db) -> None:
    """If Stripe created the session but the answer was lost, the retry gets that same session."""
    product = await shop.product()
    shop.fake.delay_next(1, 1.0, path_prefix="/v1/checkout/sessions")  # longer than our timeout

    failed = await shop.client.post(
        "/checkout/sessions",
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
        headers={"Idempotency-Key": "cart-45"},
    )
    assert failed.status_code == 502
    await wait_until(lambda: len(shop.fake.sessions()) == 1)  # Stripe finishes on its own

    retried = await shop.checkout(product, **{"Idempotency-Key": "cart-45"})

    assert len(shop.fake.sessions()) == 1
    assert retried["session_id"] == shop.fake.sessions()[0]["id"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


async def test_stripe_failure_without_a_key_closes_the_order(shop: Shop, db) -> None:
    """Nobody can resume an order made without a key, so it ends failed, stock untouched."""
    product = await shop.product(stock=1)
    shop.fake.fail_next(1, status=500, path_prefix="/v1/checkout/sessions")

    response = await shop.client.post(
        "/checkout/sessions", json={"items": [{"product_id": product["id"], "quantity": 1}]}
    )

    assert response.status_code == 502
    row = await db.fetchrow("SELECT status, cancel_reason FROM orders")
    assert (row["status"], row["cancel_reason"]) == ("failed", "provider_error")
    assert await shop.stock(product) == 1


async def test_concurrent_requests_with_one_key_create_one_order(shop: Shop, db) -> None:
    """Ten simultaneous retries of one cart make one order and one session (some may get 409)."""
    product = await shop.product()

    responses = await asyncio.gather(
        *[
            shop.client.post(
                "/checkout/sessions",
                json={"items": [{"product_id": product["id"], "quantity": 1}]},
                headers={"Idempotency-Key": "cart-46"},
            )
            for _ in range(10)
        ]
    )

    assert {r.status_code for r in responses} <= {201, 409}
    busy = [r.json()["error"]["code"] for r in responses if r.status_code == 409]
    assert set(busy) <= {"idempotency_key_in_use"}
    created = [r.json() for r in responses if r.status_code == 201]
    assert created
    assert all(c == created[0] for c in created)
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert len(shop.fake.sessions()) == 1


async def test_order_total_above_what_stripe_takes_is_refused(shop: Shop, db) -> None:
    """Stripe takes at most 8 digits of minor units: 100,000,000 is a clear 422, nothing made."""
    product = await shop.product(unit_amount=50_000_000, stock=None)

    response = await shop.client.post(
        "/checkout/sessions", json={"items": [{"product_id": product["id"], "quantity": 2}]}
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "amount_too_large"
    assert response.json()["error"]["message"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert session_creates(shop) == []


async def test_order_total_at_what_stripe_takes_is_accepted(shop: Shop) -> None:
    """99,999,999 minor units, the most Stripe takes, is a valid order."""
    product = await shop.product(unit_amount=99_999_999, stock=None)

    answer = await shop.checkout(product)

    order = await shop.order(answer["order_id"])
    assert (order["status"], order["amount_total"]) == ("pending", 99_999_999)
    assert shop.fake.get_session(answer["session_id"])["amount_total"] == 99_999_999


@pytest.mark.parametrize(
    ("unit_amount", "fee_bps", "fee"),
    [
        pytest.param(15_000, 1, 2, id="exact-half-rounds-up"),
        pytest.param(14_999, 1, 1, id="just-below-half-rounds-down"),
        pytest.param(1_005, 1_000, 101, id="ten-percent-of-10.05"),
    ],
)
async def test_platform_fee_rounds_half_up(shop: Shop, unit_amount, fee_bps, fee) -> None:
    """The fee is fee_bps of the amount, rounded half up, on the order and sent to Stripe."""
    seller = await shop.seller("destination", fee_bps=fee_bps)
    product = await shop.product(unit_amount=unit_amount, seller=seller)

    answer = await shop.checkout(product)

    assert (await shop.order(answer["order_id"]))["application_fee_amount"] == fee
    [create] = session_creates(shop)
    assert create.form["payment_intent_data"]["application_fee_amount"] == str(fee)


async def test_each_order_gets_its_own_session_while_another_waits_for_one(shop: Shop, db) -> None:
    """An order whose session failed keeps none; the next order's session is attached to it."""
    product = await shop.product()
    shop.fake.fail_next(1, status=500, path_prefix="/v1/checkout/sessions")
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    waiting = await shop.client.post(
        "/checkout/sessions", json=body, headers={"Idempotency-Key": "cart-48"}
    )
    assert waiting.status_code == 502

    other = await shop.checkout(product, quantity=2)

    assert shop.fake.get_session(other["session_id"])["metadata"]["order_id"] == other["order_id"]
    assert (await shop.order(other["order_id"]))["provider_session_id"] == other["session_id"]
    assert await db.fetchval("SELECT count(*) FROM orders WHERE provider_session_id IS NULL") == 1
    resumed = await shop.checkout(product, **{"Idempotency-Key": "cart-48"})
    assert resumed["session_id"] not in ("", other["session_id"])
    assert (
        shop.fake.get_session(resumed["session_id"])["metadata"]["order_id"]
        == (resumed["order_id"])
    )


async def test_retry_while_the_first_request_is_at_stripe_gets_409(shop: Shop, db) -> None:
    """Stripe's idempotency_key_in_use becomes our 409 with Retry-After; still one order."""
    product = await shop.product()
    shop.fake.delay_next(1, 1.0, path_prefix="/v1/checkout/sessions")
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    headers = {"Idempotency-Key": "cart-47"}

    slow = asyncio.create_task(shop.client.post("/checkout/sessions", json=body, headers=headers))
    await wait_until(lambda: any(r.path == "/v1/checkout/sessions" for r in shop.fake.requests))
    retry = await shop.client.post("/checkout/sessions", json=body, headers=headers)
    first = await slow

    assert retry.status_code == 409
    assert retry.json()["error"]["code"] == "idempotency_key_in_use"
    assert retry.headers["retry-after"] == "1"
    assert first.status_code == 201
    assert await db.fetchval("SELECT count(*) FROM orders") == 1


@pytest.mark.parametrize(
    "settings_overrides",
    [{"checkout_success_url": "https://shop.example/thanks?cs={CHECKOUT_SESSION_ID}"}],
)
async def test_configured_success_url_is_sent_to_stripe(shop: Shop) -> None:
    """Shops can send buyers back to their own page; the placeholder is kept for Stripe."""
    await shop.checkout(await shop.product())

    [create] = session_creates(shop)
    assert create.form["success_url"] == "https://shop.example/thanks?cs={CHECKOUT_SESSION_ID}"


@pytest.mark.parametrize("charge_type", ["direct", "destination"])
async def test_session_that_carries_a_fee_refuses_promotion_codes(shop: Shop, charge_type) -> None:
    """Stripe fixes the fee at creation, so a discount would raise its share: no codes then."""
    seller = await shop.seller(charge_type, fee_bps=1000)
    answer = await shop.checkout(await shop.product(unit_amount=2500, seller=seller))

    [create] = session_creates(shop)
    assert create.form["payment_intent_data"]["application_fee_amount"] == "250"
    assert create.form["allow_promotion_codes"] == "false"
    order = await shop.order(answer["order_id"])
    assert (order["application_fee_amount"], order["allow_promotion_codes"]) == (250, False)


@pytest.mark.parametrize(
    ("fee_bps", "unit_amount"),
    [
        (None, 2500),  # a platform sale
        (0, 2500),  # a seller who pays no fee
        (1, 4999),  # 0.4999 of a cent rounds to no fee
    ],
)
async def test_session_without_a_fee_allows_promotion_codes(
    shop: Shop, fee_bps: int | None, unit_amount: int
) -> None:
    """No fee to distort: the buyer may use promotion codes, and no fee is sent or stored."""
    seller = None if fee_bps is None else await shop.seller("direct", fee_bps=fee_bps)
    answer = await shop.checkout(await shop.product(unit_amount=unit_amount, seller=seller))

    [create] = session_creates(shop)
    assert create.form["allow_promotion_codes"] == "true"
    assert "application_fee_amount" not in create.form.get("payment_intent_data", {})
    order = await shop.order(answer["order_id"])
    assert order["allow_promotion_codes"] is True
    assert order["application_fee_amount"] == (None if seller is None else 0)


@pytest.mark.parametrize(
    ("unit_amount", "fee"),
    [
        (4999, 0),  # 0.4999: below the half, down
        (5000, 1),  # 0.5: exactly the half, up
        (14999, 1),  # 1.4999: down
        (15000, 2),  # 1.5: up
        (25000, 3),  # 2.5: up (banker's rounding would give 2)
    ],
)
async def test_fee_is_rounded_half_up(shop: Shop, unit_amount: int, fee: int) -> None:
    """fee_bps of the amount, in minor units, with half a unit rounded up and less rounded down."""
    seller = await shop.seller("destination", fee_bps=1)
    answer = await shop.checkout(await shop.product(unit_amount=unit_amount, seller=seller))

    assert (await shop.order(answer["order_id"]))["application_fee_amount"] == fee
    [create] = session_creates(shop)
    sent = create.form["payment_intent_data"].get("application_fee_amount")
    assert sent == (str(fee) if fee else None)


async def test_buyer_cannot_redeem_a_code_on_a_session_that_carries_a_fee(shop: Shop) -> None:
    """Like Stripe, the sandbox's hosted page refuses the code and the session stays open."""
    seller = await shop.seller("direct", fee_bps=1000)
    answer = await shop.checkout(await shop.product(seller=seller))

    async with httpx.AsyncClient(follow_redirects=False, timeout=5) as browser:
        response = await browser.post(
            answer["checkout_url"], data={"action": "promo", "promo_code": "FREE100"}
        )

    assert response.status_code == 400
    assert shop.fake.get_session(answer["session_id"])["status"] == "open"
    assert shop.fake.events() == []


@pytest.mark.parametrize(
    "email", ["buyer\u0000@example.com", "buyer@example.com\u0000", "\ud800buyer@example.com"]
)
async def test_control_characters_in_customer_email_are_refused(shop: Shop, db, email) -> None:
    """The public endpoint refuses NUL and lone surrogates with 422; nothing reaches Postgres."""
    product = await shop.product()
    body = {"items": [{"product_id": product["id"], "quantity": 1}], "customer_email": email}

    response = await shop.client.post(
        "/checkout/sessions",
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["message"].startswith("customer_email: ")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert session_creates(shop) == []


@pytest.mark.parametrize("value", [b"", b"   "])
async def test_empty_idempotency_key_is_refused(shop: Shop, db, value) -> None:
    """An empty `Idempotency-Key:` is a malformed key (422), not a request without one."""
    product = await shop.product()

    response = await shop.client.post(
        "/checkout/sessions",
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
        headers=[(b"Idempotency-Key", value)],
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith("header Idempotency-Key: must be 1 to 255 visible ASCII")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_email_errors_say_what_is_wrong_in_words(shop: Shop) -> None:
    """A bad email is explained by email-validator, not with a regular expression."""
    product = await shop.product()

    response = await shop.client.post(
        "/checkout/sessions",
        json={"items": [{"product_id": product["id"], "quantity": 1}], "customer_email": "x"},
    )

    message = response.json()["error"]["message"]
    assert response.status_code == 422
    assert message == (
        "customer_email: value is not a valid email address: An email address must have an @-sign."
    )
