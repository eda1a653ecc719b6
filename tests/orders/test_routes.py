"""Reading orders: the buyer's public view and the admin's list."""

from __future__ import annotations

import uuid

from tests.conftest import Shop


async def test_public_order_shows_status_and_amounts_only(shop: Shop) -> None:
    """The public view carries no emails, accounts or provider ids."""
    seller = await shop.seller("direct")
    product = await shop.product(seller=seller)
    response = await shop.client.post(
        "/checkout/sessions",
        json={"items": [{"product_id": product["id"], "quantity": 2}], "customer_email": "b@x.io"},
    )
    order_id = response.json()["order_id"]

    response = await shop.client.get(f"/orders/{order_id}")

    assert response.status_code == 200
    assert response.json() == {
        "id": order_id,
        "status": "pending",
        "amount_total": 5000,
        "amount_paid": None,
        "amount_refunded": 0,
        "currency": "usd",
        "cancel_reason": None,
        "items": [{"name": "Concert ticket", "quantity": 2, "unit_amount": 2500}],
    }


async def test_public_order_shows_what_was_bought_of_several_products(shop: Shop) -> None:
    """Every line of the order is listed with its own quantity and unit price."""
    cheap, dear = await shop.product(unit_amount=500), await shop.product(unit_amount=9000)
    response = await shop.client.post(
        "/checkout/sessions",
        json={
            "items": [
                {"product_id": cheap["id"], "quantity": 3},
                {"product_id": dear["id"], "quantity": 1},
            ]
        },
    )

    order = (await shop.client.get(f"/orders/{response.json()['order_id']}")).json()

    assert sorted((i["quantity"], i["unit_amount"]) for i in order["items"]) == [
        (1, 9000),
        (3, 500),
    ]
    assert order["amount_total"] == 10500


async def test_public_order_shows_the_amount_paid(shop: Shop) -> None:
    """Once paid, the buyer's receipt says how much was paid and that nothing was refunded."""
    product = await shop.product(unit_amount=1800)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    await shop.verify(checkout["session_id"])

    order = (await shop.client.get(f"/orders/{checkout['order_id']}")).json()

    assert (order["status"], order["amount_paid"], order["amount_refunded"]) == ("paid", 1800, 0)


async def test_public_order_shows_the_amount_refunded_and_why(shop: Shop) -> None:
    """The last unit sold twice: the later buyer sees the refund's amount and the reason."""
    product = await shop.product(stock=1, unit_amount=4200)
    first, second = await shop.checkout(product), await shop.checkout(product)
    for checkout in (first, second):
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
        await shop.verify(checkout["session_id"])
    refunded_before_the_outbox = (await shop.client.get(f"/orders/{second['order_id']}")).json()
    await shop.drain_outbox()

    order = (await shop.client.get(f"/orders/{second['order_id']}")).json()

    assert refunded_before_the_outbox["status"] == "refund_pending"
    assert refunded_before_the_outbox["amount_refunded"] == 4200  # pending refunds count
    assert order["status"] == "refunded"
    assert order["amount_paid"] == order["amount_refunded"] == 4200
    assert order["cancel_reason"] == "out_of_stock"
    first_order = (await shop.client.get(f"/orders/{first['order_id']}")).json()
    assert (first_order["status"], first_order["amount_refunded"]) == ("paid", 0)


async def test_public_order_is_documented_without_admin_fields(shop: Shop) -> None:
    """The schema names the buyer's fields, and none that identify the buyer or the provider."""
    schema = (await shop.client.get("/openapi.json")).json()

    operation = schema["paths"]["/orders/{order_id}"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/PublicOrder")
    components = schema["components"]["schemas"]
    assert set(components["PublicOrder"]["properties"]) == {
        "id",
        "status",
        "amount_total",
        "amount_paid",
        "amount_refunded",
        "currency",
        "cancel_reason",
        "items",
    }
    assert set(components["PublicOrderItem"]["properties"]) == {"name", "quantity", "unit_amount"}
    assert "404" in operation["responses"]
    assert "security" not in operation


async def test_public_order_unknown_is_404(shop: Shop) -> None:
    """An order id we do not have is a 404 not_found, even with other orders there."""
    await shop.checkout(await shop.product())
    response = await shop.client.get(f"/orders/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_admin_lists_orders_by_status(shop: Shop) -> None:
    """GET /admin/orders?status= filters; refunds are a list on every order."""
    product = await shop.product()
    paid, pending = await shop.checkout(product), await shop.checkout(product)
    shop.fake.complete_session(paid["session_id"], outcome="paid")
    assert (await shop.verify(paid["session_id"])).json()["paid"] is True

    response = await shop.client.get("/admin/orders", params={"status": "paid"}, headers=shop.admin)

    assert response.status_code == 200
    [order] = response.json()["data"]
    assert order["id"] == paid["order_id"]
    assert order["refunds"] == []
    everything = await shop.client.get("/admin/orders", headers=shop.admin)
    assert {o["id"] for o in everything.json()["data"]} == {paid["order_id"], pending["order_id"]}
    bad = await shop.client.get("/admin/orders", params={"status": "lost"}, headers=shop.admin)
    assert bad.status_code == 422


async def test_admin_order_has_the_full_record(shop: Shop) -> None:
    """The admin view names every field ops need to follow a payment."""
    seller = await shop.seller("direct", fee_bps=500)
    product = await shop.product(unit_amount=4000, seller=seller)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))

    order = await shop.order(checkout["order_id"])

    assert order["id"] == checkout["order_id"]
    assert order["status"] == "paid"
    assert order["amount_total"] == order["amount_paid"] == 4000
    assert order["application_fee_amount"] == 200
    assert order["provider_account"] == seller["stripe_account_id"]
    assert order["provider_session_id"] == checkout["session_id"]
    assert order["confirmed_via"] == "webhook"
    assert order["cancel_reason"] is None
    assert order["review_reason"] is None
    assert order["allow_promotion_codes"] is False  # the order carries a fee
    assert order["items"] == [
        {"product_id": product["id"], "name": "Concert ticket", "quantity": 1, "unit_amount": 4000}
    ]


async def test_admin_lists_orders_flagged_for_review(shop: Shop) -> None:
    """GET /admin/orders?flagged=true finds the orders a human must look at, and only those."""
    product = await shop.product()
    flagged, paid, pending = [await shop.checkout(product) for _ in range(3)]
    session = shop.fake.complete_session(flagged["session_id"], outcome="paid")
    await shop.deliver(
        shop.fake.make_event("checkout.session.completed", dict(session, currency="eur"))
    )
    shop.fake.complete_session(paid["session_id"], outcome="paid")
    await shop.verify(paid["session_id"])

    only_flagged = await shop.client.get(
        "/admin/orders", params={"flagged": "true"}, headers=shop.admin
    )
    not_flagged = await shop.client.get(
        "/admin/orders", params={"flagged": "false"}, headers=shop.admin
    )

    assert [(o["id"], o["review_reason"]) for o in only_flagged.json()["data"]] == [
        (flagged["order_id"], "currency_mismatch")
    ]
    assert {o["id"] for o in not_flagged.json()["data"]} == {paid["order_id"], pending["order_id"]}
    detail = await shop.order(flagged["order_id"])
    assert (detail["status"], detail["review_reason"]) == ("refund_pending", "currency_mismatch")


async def test_admin_list_is_newest_first_and_limited(shop: Shop) -> None:
    """GET /admin/orders?limit=N answers the N newest orders, newest first."""
    product = await shop.product()
    created = [(await shop.checkout(product))["order_id"] for _ in range(4)]

    response = await shop.client.get("/admin/orders", params={"limit": 3}, headers=shop.admin)

    assert [o["id"] for o in response.json()["data"]] == created[:0:-1]
