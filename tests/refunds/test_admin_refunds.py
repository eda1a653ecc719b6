"""POST /admin/orders/{id}/refunds: what remains is checked in the refund's transaction, the
refund goes to Stripe through the outbox under `refund:<id>`, and the order follows it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Shop


def posted_refunds(shop: Shop) -> list[Any]:
    return [r for r in shop.fake.requests if r.path == "/v1/refunds" and r.method == "POST"]


@pytest.mark.parametrize("charge_type", [None, "direct", "destination"])
async def test_partial_then_full_refund(shop: Shop, charge_type: str | None) -> None:
    """1000 then the rest of 2500: partially_refunded, then refunded, each sent to Stripe
    once, on the account and with the Connect flags the charge type needs."""
    seller = await shop.seller(charge_type, fee_bps=1000) if charge_type else None
    order = await shop.paid(seller)

    first = await shop.refund(order["id"], amount=1000, reason="requested_by_customer")
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "pending"
    partly = await shop.order(order["id"])
    assert (partly["status"], partly["amount_refunded"]) == ("partially_refunded", 1000)
    await shop.drain_outbox()
    rest = await shop.refund(order["id"])  # no amount: all that remains
    assert rest.status_code == 201, rest.text
    await shop.drain_outbox()

    done = await shop.order(order["id"])
    assert (done["status"], done["amount_refunded"], done["amount_paid"]) == (
        "refunded",
        2500,
        2500,
    )
    assert [(r["amount"], r["status"]) for r in done["refunds"]] == [
        (1000, "succeeded"),
        (1500, "succeeded"),
    ]
    assert done["checks"]["ok"] is True
    sent = posted_refunds(shop)
    assert [r.idempotency_key for r in sent] == [f"refund:{r['id']}" for r in done["refunds"]]
    assert [int(r.form["amount"]) for r in sent] == [1000, 1500]
    for request in sent:
        assert request.form["payment_intent"] == order["provider_payment_id"]
        if charge_type == "direct":
            assert request.account == seller["stripe_account_id"]  # type: ignore[index]
            assert request.form.get("refund_application_fee") == "true"
            assert "reverse_transfer" not in request.form
        elif charge_type == "destination":
            assert request.account is None
            assert request.form["reverse_transfer"] == "true"
            assert request.form["refund_application_fee"] == "true"
        else:
            assert request.account is None
            assert "reverse_transfer" not in request.form
            assert "refund_application_fee" not in request.form
    charge = shop.fake.get_object(shop.fake.refunds()[0].refund["charge"])
    assert (charge["amount_refunded"], charge["refunded"]) == (2500, True)


async def test_more_than_remains_is_refused_and_changes_nothing(shop: Shop) -> None:
    """2000 of 2500 refunded: 600 more is a 409 refund_exceeds_remaining; 500 is fine."""
    order = await shop.paid()
    assert (await shop.refund(order["id"], amount=2000)).status_code == 201

    refused = await shop.refund(order["id"], amount=600)

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "refund_exceeds_remaining"
    after = await shop.order(order["id"])
    assert (after["amount_refunded"], len(after["refunds"])) == (2000, 1)
    assert (await shop.refund(order["id"], amount=500)).status_code == 201
    nothing_left = (await shop.refund(order["id"])).json()["error"]
    assert nothing_left["code"] == "refund_exceeds_remaining"
    assert "nothing remains refundable" in nothing_left["message"]


async def test_unpaid_and_unknown_orders(shop: Shop) -> None:
    """Never paid: 409 order_not_refundable; no such order: 404; nothing is written."""
    product = await shop.product()
    pending = await shop.checkout(product)

    never_paid = await shop.refund(pending["order_id"], amount=100)
    unknown = await shop.refund(str(uuid.uuid4()), amount=100)

    assert (never_paid.status_code, never_paid.json()["error"]["code"]) == (
        409,
        "order_not_refundable",
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert (await shop.order(pending["order_id"]))["refunds"] == []
    assert posted_refunds(shop) == []


async def test_oversold_order_is_not_refundable_twice(shop: Shop) -> None:
    """An order the service is refunding in full already (out of stock): nothing remains."""
    _first, second = await shop.oversold()

    response = await shop.refund(second["order_id"], amount=100)

    assert response.json()["error"]["code"] == "refund_exceeds_remaining"


@pytest.mark.parametrize(
    "body",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount": 1.5},
        {"amount": "100"},
        {"reason": "because"},
        {"restock": "yes"},
        {"amount": 100, "extra": 1},
        {"amount": None},  # left out means everything; null is a client's bug
        {"reason": None},
    ],
)
async def test_bad_bodies_are_422(shop: Shop, body: dict[str, Any]) -> None:
    """amount <= 0, not an integer, an unknown reason or field: 422, nothing written."""
    order = await shop.paid()

    response = await shop.refund(order["id"], **body)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert (await shop.order(order["id"]))["refunds"] == []


async def test_same_idempotency_key_returns_the_same_refund(shop: Shop) -> None:
    """A retried request with its key gets the same refund back; another body is refused."""
    order = await shop.paid()
    key = str(uuid.uuid4())

    first = await shop.refund(order["id"], key, amount=700)
    again = await shop.refund(order["id"], key, amount=700)
    other = await shop.refund(order["id"], key, amount=800)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")
    assert (await shop.order(order["id"]))["amount_refunded"] == 700
    await shop.drain_outbox()
    assert len(posted_refunds(shop)) == 1


async def test_restock_returns_the_quantities_once(shop: Shop) -> None:
    """Two refunds asking to restock give the 3 units back once; without asking, none."""
    product = await shop.product(unit_amount=1000, stock=10)
    checkout = await shop.checkout(product, quantity=3)
    shop.fake.complete_session(checkout["session_id"], outcome="paid")
    await shop.deliver(shop.fake.last_event("checkout.session.completed"))
    assert await shop.stock(product) == 7

    await shop.refund(checkout["order_id"], amount=500)
    assert await shop.stock(product) == 7
    await shop.refund(checkout["order_id"], amount=1000, restock=True)
    await shop.refund(checkout["order_id"], amount=1000, restock=True)

    assert await shop.stock(product) == 10
    assert (await shop.order(checkout["order_id"]))["restocked_at"] is not None


async def test_refused_by_stripe_fails_and_gives_the_amount_back(shop: Shop) -> None:
    """Stripe refuses the refund for good (e.g. a disputed charge): it ends failed, its
    amount is refundable again, the order is flagged, and the call is not retried."""
    order = await shop.paid()
    shop.fake.fail_next(
        1,
        status=400,
        error_type="invalid_request_error",
        code="charge_disputed",
        path_prefix="/v1/refunds",
    )
    await shop.refund(order["id"], amount=1000)

    await shop.drain_outbox()

    after = await shop.order(order["id"])
    assert [(r["status"], r["failure_reason"]) for r in after["refunds"]] == [
        ("failed", "charge_disputed")
    ]
    assert (after["status"], after["amount_refunded"], after["review_reason"]) == (
        "paid",
        0,
        "refund_failed",
    )
    assert await shop.drain_outbox() == 0
    assert (await shop.refund(order["id"])).json()["amount"] == 2500


async def test_an_open_dispute_blocks_refunds_until_it_closes(shop: Shop) -> None:
    """Stripe refuses to refund a charge under an open chargeback: 409 order_disputed up
    front, nothing written; an inquiry (warning_*) does not block."""
    order = await shop.paid()
    dispute = shop.fake.open_dispute(order["provider_payment_id"])
    [created] = [e for e in shop.fake.events("charge.dispute.created")]
    await shop.deliver(created)

    blocked = await shop.refund(order["id"], amount=100)

    assert (blocked.status_code, blocked.json()["error"]["code"]) == (409, "order_disputed")
    assert (await shop.order(order["id"]))["refunds"] == []
    shop.fake.update_dispute(dispute["id"], "lost")
    await shop.deliver(shop.fake.last_event("charge.dispute.closed"))
    assert (await shop.refund(order["id"], amount=100)).status_code == 201
