"""Dropping webhook deliveries so a reconciler has work: the events exist, nothing is sent."""

import httpx
import pytest

from payments.sandbox.chaos import Chaos
from payments.sandbox.delivery import DROPPED

from .builders import session_params
from .conftest import WEBHOOK_SECRET

AUTH = {"Authorization": "Bearer sk_test_control"}


def _emit(fake, count: int, account=None) -> list[str]:
    return [
        fake.make_event("sandbox.tick", {"id": f"obj_{i}", "object": "thing"}, account=account)[
            "id"
        ]
        for i in range(count)
    ]


async def test_drop_next_n_withholds_exactly_those_then_delivers(delivering, receiver, client):
    """drop_deliveries(2): the next two events are logged as dropped and never sent, the third
    is delivered; all three are listed by GET /v1/events."""
    delivering.drop_deliveries(2)

    ids = _emit(delivering, 3)

    assert delivering.wait_for_deliveries(5)
    [received] = receiver.wait_for(1)
    assert received.event(WEBHOOK_SECRET).id == ids[2]
    dropped = [(a.event_id, a.attempt, a.error) for a in delivering.deliveries if not a.delivered]
    assert dropped == [(ids[0], 0, DROPPED), (ids[1], 0, DROPPED)]
    listed = await client.v1.events.list_async()
    assert [e.id for e in listed.data] == ids[::-1]


async def test_drop_all_holds_until_stopped_whatever_the_session_chaos(
    delivering, receiver, client
):
    """ "all" drops every event, Connect ones too, even where per-session chaos says otherwise;
    dropping 0 delivers again."""
    session = await client.v1.checkout.sessions.create_async(session_params())
    delivering.set_chaos(Chaos(duplicate=True), session.id)
    delivering.drop_deliveries("all")

    completed = delivering.complete_session(session.id)
    dropped = _emit(delivering, 4) + _emit(delivering, 2, account="acct_dropped")
    delivering.drop_deliveries(0)
    [after] = _emit(delivering, 1)

    assert delivering.wait_for_deliveries(5)
    assert [r.event(WEBHOOK_SECRET).id for r in receiver.wait_for(1)] == [after]
    session_event = delivering.last_event("checkout.session.completed")
    assert session_event["data"]["object"]["id"] == completed["id"]
    assert {a.event_id for a in delivering.deliveries if a.error == DROPPED} == {
        session_event["id"],
        *dropped,
    }
    connected = await client.v1.events.list_async(options={"stripe_account": "acct_dropped"})
    assert [e.id for e in connected.data] == dropped[4:][::-1]


def test_drop_takes_a_count_or_all(delivering, receiver):
    """Negative counts, other words and booleans are refused; reset stops dropping."""
    for bad in (-1, "some", True):
        with pytest.raises(ValueError, match="count >= 0 or 'all'"):
            delivering.drop_deliveries(bad)
    delivering.drop_deliveries("all")

    delivering.reset()
    [event_id] = _emit(delivering, 1)

    assert [r.event(WEBHOOK_SECRET).id for r in receiver.wait_for(1)] == [event_id]


async def test_drop_over_http(delivering, receiver, base_url):
    """POST /_sandbox/deliveries/drop sets the same budget; bad counts are 400s."""
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=5) as http:
        set_two = await http.post("/_sandbox/deliveries/drop", json={"count": 2})
        bad = [
            await http.post("/_sandbox/deliveries/drop", json=body)
            for body in ({"count": -1}, {"count": "most"}, {"count": 1.5}, {"n": 1}, {})
        ]
        everything = await http.post("/_sandbox/deliveries/drop", json={"count": "all"})

    assert (set_two.status_code, set_two.json()) == (200, {"dropping": 2})
    assert [r.status_code for r in bad] == [400] * 5
    assert all(r.json()["error"]["type"] == "invalid_request_error" for r in bad)
    assert everything.json() == {"dropping": "all"}
    ids = _emit(delivering, 3)
    assert delivering.wait_for_deliveries(5)
    # Dropping is decided when the event is recorded: nothing was ever scheduled to send.
    assert [(a.event_id, a.error) for a in delivering.deliveries] == [(i, DROPPED) for i in ids]
    assert receiver.received == []
