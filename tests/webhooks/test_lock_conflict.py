"""A webhook whose transaction the database undoes to break a deadlock: 503, retried, once.

Postgres breaks a deadlock by undoing one of the transactions (SQLSTATE 40P01).
Nothing of it was committed, so the right answer is the one Stripe retries.
"""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from tests.conftest import Shop, wait_until


@pytest.fixture
def settings_overrides() -> dict[str, int]:
    """One pooled connection: a request gets the very connection the one before used."""
    return {"db_pool_size": 1}


async def waiting_for_a_lock(db: asyncpg.Connection) -> bool:
    """Some other session of this database waits for a row lock."""
    waiting = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(waiting)


async def test_webhook_undone_to_break_a_deadlock_is_retried_and_applied_once(
    shop: Shop, db, database_url: str
) -> None:
    product = await shop.product(stock=3)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    event = shop.fake.last_event("checkout.session.completed")
    other = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        async with other.transaction():
            # The service's backend must be the one that detects the deadlock (its
            # timer fires after 1 s), so this one waits longer before checking.
            await other.execute("SET LOCAL deadlock_timeout = '20s'")
            await other.execute("SELECT 1 FROM products WHERE id = $1 FOR UPDATE", product["id"])
            delivery = asyncio.create_task(shop.deliver(event))
            await wait_until(lambda: waiting_for_a_lock(db))  # it holds the order, wants the stock
            await other.execute(
                "UPDATE orders SET updated_at = now() WHERE id = $1", checkout["order_id"]
            )
            undone = await delivery
    finally:
        await other.close()

    retried = await shop.deliver(event)

    assert undone.status_code == 503
    assert undone.json()["error"]["code"] == "service_unavailable"
    assert undone.headers["retry-after"] == "1"
    assert retried.json()["outcome"] == "paid"
    assert await shop.stock(product) == 2
    order = await shop.order(checkout["order_id"])
    assert order["status"] == "paid"


async def test_general_path_undone_to_break_a_deadlock_is_retried_and_applied_once(
    shop: Shop, db, database_url: str
) -> None:
    """The same through the general path (here: an async payment still processing), which
    locks the order, then inserts the event id."""
    product = await shop.product(stock=3)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="async")
    event = shop.fake.last_event("checkout.session.completed")
    other = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SET LOCAL deadlock_timeout = '20s'")
        await other.execute(
            "INSERT INTO webhook_events (provider, event_id, endpoint, type, livemode, outcome)"
            " VALUES ('stripe', $1, 'platform', 'x', false, 'x')",
            event["id"],
        )
        delivery = asyncio.create_task(shop.deliver(event))
        await wait_until(lambda: waiting_for_a_lock(db))  # it holds the order, wants the id
        locking = asyncio.create_task(
            other.execute(
                "UPDATE orders SET updated_at = now() WHERE id = $1", checkout["order_id"]
            )
        )
        undone = await delivery
        await locking
        await transaction.rollback()
    finally:
        await other.close()

    retried = await shop.deliver(event)

    assert undone.status_code == 503
    assert undone.headers["retry-after"] == "1"
    assert retried.json()["outcome"] == "processing"
    order = await shop.order(checkout["order_id"])
    assert order["status"] == "processing"


async def test_delivery_cancelled_mid_statement_leaves_no_broken_connection(
    app, shop: Shop, db, database_url: str
) -> None:
    """A request cancelled while its statement waits (the server stopping) must not hand a
    connection with a statement still running to the next request. The statement itself
    may still commit (it was sent): then the redelivery is a duplicate, and either way
    the order is paid once."""
    product = await shop.product(stock=3)
    first, second = await shop.checkout(product), await shop.checkout(product)
    for checkout in (first, second):
        shop.fake.complete_session(checkout["session_id"], outcome="paid")
    waiting, later = shop.fake.events("checkout.session.completed")[-2:]
    other = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        async with other.transaction():
            await other.execute("SELECT 1 FROM products WHERE id = $1 FOR UPDATE", product["id"])
            delivery = asyncio.create_task(shop.deliver(waiting))
            await wait_until(lambda: waiting_for_a_lock(db))
            delivery.cancel()
            with pytest.raises(asyncio.CancelledError):
                await delivery
    finally:
        await other.close()

    answers = [await shop.deliver(event) for event in (later, waiting)]

    assert answers[0].json()["outcome"] == "paid"
    assert answers[1].json()["outcome"] in {"paid", "duplicate"}
    for checkout in (first, second):
        assert (await shop.order(checkout["order_id"]))["status"] == "paid"
    assert await shop.stock(product) == 1


async def test_statement_the_database_rejects_is_a_logged_500(app, shop: Shop, db, capsys) -> None:
    """A bug, not an outage: 500, nothing committed, logged as database.error with its
    SQLSTATE, on the one-statement path as on the general one."""
    product = await shop.product(stock=3)
    checkout = await shop.checkout(product)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    event = shop.fake.last_event("checkout.session.completed")
    await db.execute(
        "CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = 'XX001'; END $$"
    )
    await db.execute(
        "CREATE TRIGGER refuse_event BEFORE INSERT ON webhook_events FOR EACH ROW"
        f" WHEN (NEW.event_id = '{event['id']}') EXECUTE FUNCTION refuse_event()"
    )
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body, headers = shop.fake.signed(event)
            refused = await client.post("/webhooks/stripe", content=body, headers=headers)
    finally:
        await db.execute("DROP TRIGGER refuse_event ON webhook_events")
        await db.execute("DROP FUNCTION refuse_event()")

    assert refused.status_code == 500
    assert refused.json()["error"]["code"] == "internal_error"
    logged = capsys.readouterr().out
    assert "database.error" in logged
    assert "XX001" in logged
    assert (await shop.order(checkout["order_id"]))["status"] == "pending"
    assert await shop.stock(product) == 3
    assert (await shop.deliver(event)).json()["outcome"] == "paid"
