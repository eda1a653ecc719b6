"""Reading orders: the buyer's public view and the admin's list."""

from __future__ import annotations

import uuid

from tests.conftest import Shop


async def test_public_order_shows_status_and_amounts_only(shop: Shop) -> None:
    """The public view carries no emails, accounts or provider ids."""
    product = await shop.product()
    checkout = await shop.checkout(product)

    response = await shop.client.get(f"/orders/{checkout['order_id']}")

    assert response.status_code == 200
    assert response.json() == {
        "id": checkout["order_id"],
        "status": "pending",
        "amount_total": 2500,
        "amount_paid": None,
        "currency": "usd",
    }


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
    assert order["items"] == [
        {"product_id": product["id"], "name": "Concert ticket", "quantity": 1, "unit_amount": 4000}
    ]


async def test_admin_list_is_newest_first_and_limited(shop: Shop) -> None:
    """GET /admin/orders?limit=N answers the N newest orders, newest first."""
    product = await shop.product()
    created = [(await shop.checkout(product))["order_id"] for _ in range(4)]

    response = await shop.client.get("/admin/orders", params={"limit": 3}, headers=shop.admin)

    assert [o["id"] for o in response.json()["data"]] == created[:0:-1]
