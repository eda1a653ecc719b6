"""Stock moves when an order is paid: only its own products, by its own quantities, all or
nothing. Every test here has other products and other orders around, so a stock query
that forgot its product or order condition fails."""

from __future__ import annotations

from tests.conftest import UNTOUCHED, Shop


async def pay(shop: Shop, checkout: dict) -> str:
    """Pay the checkout by card and deliver Stripe's webhook; returns the webhook's outcome."""
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    response = await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    assert response.status_code == 200, response.text
    outcome: str = response.json()["outcome"]
    return outcome


async def test_paying_an_order_takes_stock_of_its_own_products_only(shop: Shop) -> None:
    """Each paid order takes its quantities from its products; other products keep theirs."""
    products = [await shop.product(stock=10) for _ in range(3)]
    mug, poster, lamp = products
    first = await shop.cart((mug, 1), (poster, 2))
    bystander = await shop.bystander()
    second = await shop.checkout(lamp, quantity=3)

    assert await pay(shop, first) == "paid"

    assert [await shop.stock(p) for p in products] == [9, 8, 10]
    assert await shop.state_of(bystander) == UNTOUCHED

    assert await pay(shop, second) == "paid"

    assert [await shop.stock(p) for p in products] == [9, 8, 7]
    assert await shop.state_of(bystander) == UNTOUCHED


async def test_paying_takes_no_stock_for_other_orders_of_the_same_product(shop: Shop) -> None:
    """Three open orders of one product: paying one takes its quantity, not theirs."""
    product = await shop.product(stock=10)
    first = await shop.checkout(product, quantity=1)
    await shop.checkout(product, quantity=2)
    await shop.checkout(product, quantity=4)

    assert await pay(shop, first) == "paid"

    assert await shop.stock(product) == 9


async def test_unlimited_stock_product_is_paid_and_stays_unlimited(shop: Shop) -> None:
    """A product without stock (null) is sold like any other: the order is paid, stock null."""
    product = await shop.product(stock=None)
    checkout = await shop.checkout(product, quantity=1000)
    bystander = await shop.bystander()

    assert await pay(shop, checkout) == "paid"

    order = await shop.order(checkout["order_id"])
    assert (order["status"], order["amount_paid"]) == ("paid", 2_500_000)
    assert await shop.stock(product) is None
    assert await shop.state_of(bystander) == UNTOUCHED


async def test_cart_of_limited_and_unlimited_products_takes_only_the_limited_stock(
    shop: Shop,
) -> None:
    """The unlimited line is skipped; the limited line is decremented as usual."""
    unlimited = await shop.product(stock=None)
    limited = await shop.product(stock=5)
    checkout = await shop.cart((unlimited, 3), (limited, 2))

    assert await pay(shop, checkout) == "paid"

    assert await shop.stock(unlimited) is None
    assert await shop.stock(limited) == 3


async def test_unlimited_product_is_confirmed_by_verify_too(shop: Shop) -> None:
    """The frontend's verify call confirms an unlimited-stock order like the webhook does."""
    product = await shop.product(stock=None)
    checkout = await shop.checkout(product, quantity=2)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")

    response = await shop.verify(checkout["session_id"])

    assert response.json() == {"order_id": checkout["order_id"], "status": "paid", "paid": True}
    assert await shop.stock(product) is None


async def test_cart_whose_second_product_ran_out_takes_no_stock_at_all(shop: Shop) -> None:
    """All or nothing: when one line cannot be served, no line of the order takes stock."""
    plenty = await shop.product(stock=5)
    last_one = await shop.product(stock=1)
    cart = await shop.cart((plenty, 2), (last_one, 1))
    rival = await shop.checkout(last_one)
    assert await pay(shop, rival) == "paid"

    assert await pay(shop, cart) == "out_of_stock"

    assert (await shop.order(cart["order_id"]))["status"] == "refund_pending"
    assert await shop.stock(plenty) == 5
    assert await shop.stock(last_one) == 0
