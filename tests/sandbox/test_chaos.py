"""Chaos knobs: parsing them, and each one's effect on real deliveries."""

import asyncio
import time

import httpx
import pytest

from payments.sandbox.chaos import Chaos
from payments.sandbox.delivery import SIMULATED_FAILURE, WITHHELD

from .builders import session_params
from .conftest import RETRY_DELAYS, WEBHOOK_SECRET
from .page import by_id


async def _open_session(client):
    return await client.v1.checkout.sessions.create_async(session_params())


async def _click(session, action: str = "pay", **chaos: str):
    """Submit the hosted page's form with one button and the chaos panel's fields."""
    form = {"action": action, "card_number": "4242 4242 4242 4242", "chaos": "1", **chaos}
    async with httpx.AsyncClient() as browser:
        response = await browser.post(session.url, data=form)
    assert response.status_code == 303, response.text
    return response


def test_parse_reads_every_knob():
    """The SANDBOX_CHAOS spelling sets each knob; "" is no chaos."""
    chaos = Chaos.parse("delay=5,duplicate,reorder,never,fail_first=2")

    assert chaos == Chaos(delay=5.0, duplicate=True, reorder=True, never=True, fail_first=2)
    assert Chaos.parse("") == Chaos()
    assert Chaos.parse(" duplicate , delay=0.5 ,") == Chaos(delay=0.5, duplicate=True)
    assert Chaos.parse("reorder=false,never=true") == Chaos(never=True)


def test_parse_round_trips_through_str():
    """str(chaos) is the parse spelling, so settings can be shown and read back."""
    chaos = Chaos(delay=1.5, duplicate=True, fail_first=3)

    assert str(chaos) == "delay=1.5,duplicate,fail_first=3"
    assert Chaos.parse(str(chaos)) == chaos
    assert str(Chaos()) == ""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode", "unknown chaos knob 'explode'; known knobs: delay, duplicate"),
        ("delay", "chaos knob 'delay' needs a value"),
        ("delay=soon", "chaos delay must be a number"),
        ("delay=-1", "chaos delay must be a finite number >= 0"),
        ("delay=nan", "chaos delay must be a finite number >= 0"),
        ("fail_first=1.5", "chaos fail_first must be an integer"),
        ("fail_first=-2", "chaos fail_first must be >= 0"),
        ("duplicate=maybe", "chaos duplicate must be true or false"),
    ],
)
def test_parse_rejects_bad_specs_naming_the_problem(spec, message):
    """A typo fails loudly with the knob's name instead of silently meaning no chaos."""
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        Chaos.parse(spec)


async def test_delay_holds_the_first_attempt(delivering, receiver, client):
    """delay: the first attempt waits that long, while the buyer's redirect does not."""
    session = await _open_session(client)

    started = time.monotonic()
    await _click(session, chaos_delay="2")
    before_the_delay = list(receiver.received)  # the redirect came back without waiting
    [received] = receiver.wait_for(1)

    assert before_the_delay == []
    assert received.at - started >= 2


async def test_duplicate_delivers_each_event_twice_with_the_same_id(delivering, receiver, client):
    """duplicate: at-least-once delivery, the same event id arrives twice."""
    session = await _open_session(client)

    await _click(session, chaos_duplicate="1")

    assert delivering.wait_for_deliveries(3)
    ids = [r.event(WEBHOOK_SECRET).id for r in receiver.received]
    assert len(ids) == 2
    assert len(set(ids)) == 1
    assert [(a.attempt, a.status) for a in delivering.deliveries] == [(1, 200), (1, 200)]


async def test_reorder_sends_the_settlement_before_the_completion(delivering, receiver, client):
    """reorder: checkout.session.completed waits for the async settlement and goes after it."""
    session = await _open_session(client)

    await _click(session, "async_succeed", chaos_reorder="1")

    assert delivering.wait_for_deliveries(3)
    assert [r.event(WEBHOOK_SECRET).type for r in receiver.received] == [
        "checkout.session.async_payment_succeeded",
        "checkout.session.completed",
    ]


async def test_without_reorder_events_arrive_in_the_order_they_happened(
    delivering, receiver, client
):
    """The default order is the order of the events, so reorder is what changes it."""
    session = await _open_session(client)

    await _click(session, "async_fail")

    assert delivering.wait_for_deliveries(3)
    assert [r.event(WEBHOOK_SECRET).type for r in receiver.received] == [
        "checkout.session.completed",
        "checkout.session.async_payment_failed",
    ]


async def test_never_records_the_event_without_sending_it(delivering, receiver, client):
    """never: the event exists (API, events()) but no request is made; the log says withheld."""
    session = await _open_session(client)

    await _click(session, chaos_never="1")

    assert delivering.wait_for_deliveries(1)
    await asyncio.sleep(0.1)
    assert receiver.received == []
    event = delivering.last_event("checkout.session.completed")
    [attempt] = delivering.deliveries
    assert (attempt.event_id, attempt.attempt, attempt.status, attempt.error) == (
        event["id"],
        0,
        None,
        WITHHELD,
    )


async def test_fail_first_fails_attempts_without_sending_then_retries(delivering, receiver, client):
    """fail_first=2: two simulated failures recorded, nothing sent, the third attempt lands."""
    session = await _open_session(client)

    await _click(session, chaos_fail_first="2")

    assert delivering.wait_for_deliveries(3)
    assert len(receiver.received) == 1
    assert [(a.attempt, a.status, a.error) for a in delivering.deliveries] == [
        (1, None, SIMULATED_FAILURE),
        (2, None, SIMULATED_FAILURE),
        (3, 200, None),
    ]
    failed, retried, landed = delivering.deliveries
    assert retried.timestamp - failed.timestamp >= RETRY_DELAYS[0] * 0.9
    assert landed.timestamp - retried.timestamp >= RETRY_DELAYS[1] * 0.9


async def test_per_session_chaos_wins_over_the_default(delivering, receiver, client):
    """A session's own setting overrides the global one; other sessions keep the global one."""
    calm = await _open_session(client)
    chaotic = await _open_session(client)
    delivering.set_chaos(Chaos(never=True))
    delivering.set_chaos(Chaos(), calm.id)

    delivering.complete_session(calm.id)
    delivering.complete_session(chaotic.id)

    assert delivering.wait_for_deliveries(3)
    assert [r.event(WEBHOOK_SECRET).data.object.id for r in receiver.received] == [calm.id]
    withheld = [a for a in delivering.deliveries if a.attempt == 0]
    assert [a.error for a in withheld] == [WITHHELD]


async def test_page_panel_applies_to_its_session_only(delivering, receiver, client):
    """Chaos chosen on one session's page leaves other sessions' deliveries alone."""
    chaotic = await _open_session(client)
    plain = await _open_session(client)

    await _click(chaotic, chaos_duplicate="1")
    delivering.complete_session(plain.id)

    assert delivering.wait_for_deliveries(3)
    per_session = [r.event(WEBHOOK_SECRET).data.object.id for r in receiver.received]
    assert sorted(per_session) == sorted([chaotic.id, chaotic.id, plain.id])


async def test_page_shows_the_chaos_in_effect(delivering, client):
    """The panel is prefilled from the effective chaos, so resubmitting keeps it."""
    delivering.set_chaos(Chaos(delay=2, reorder=True, fail_first=1))
    session = await _open_session(client)

    async with httpx.AsyncClient() as browser:
        page = by_id((await browser.get(session.url)).text)

    assert page["chaos-delay"].value == "2"
    assert "checked" in page["chaos-reorder"].attrs
    assert "checked" not in page["chaos-duplicate"].attrs
    assert page["chaos-fail-first"].value == "1"
    assert "open" in page["chaos"].attrs
