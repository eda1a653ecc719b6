"""`GET /v1/events`: filters, cursors and the SDK's auto-pagination."""

import time

import pytest
import stripe


def _emit(fake, count: int, event_type: str = "sandbox.tick", account=None) -> list[str]:
    return [
        fake.make_event(event_type, {"id": f"obj_{i}", "object": "thing"}, account=account)["id"]
        for i in range(count)
    ]


async def test_events_are_listed_newest_first_with_has_more(fake, client):
    """The default page is 10 events, newest first, with has_more when older ones exist."""
    ids = _emit(fake, 12)

    page = await client.v1.events.list_async()

    assert [e.id for e in page.data] == ids[::-1][:10]
    assert page.has_more is True
    assert page.url == "/v1/events"


async def test_auto_paging_walks_every_page_in_order(fake, client):
    """auto_paging_iter follows starting_after across pages and sees each event once."""
    ids = _emit(fake, 7)

    page = await client.v1.events.list_async({"limit": 3})
    seen = [event.id async for event in page.auto_paging_iter()]

    assert seen == ids[::-1]
    cursors = [r.query.get("starting_after") for r in fake.requests]
    assert cursors == [None, ids[4], ids[1]]


async def test_ending_before_pages_towards_newer_events(fake, client):
    """ending_before returns the events just newer than the cursor, still newest first."""
    ids = _emit(fake, 6)

    page = await client.v1.events.list_async({"ending_before": ids[1], "limit": 2})

    assert [e.id for e in page.data] == [ids[3], ids[2]]
    assert page.has_more is True


async def test_type_types_and_created_filters(fake, client):
    """`type` (with a wildcard), `types[]` and `created[...]` bounds narrow the list."""
    _emit(fake, 1, "charge.refunded")
    _emit(fake, 1, "charge.dispute.created")
    _emit(fake, 1, "refund.created")
    now = int(time.time())

    by_type = await client.v1.events.list_async({"type": "refund.created"})
    by_glob = await client.v1.events.list_async({"type": "charge.*"})
    by_types = await client.v1.events.list_async({"types": ["charge.refunded", "refund.created"]})
    recent = await client.v1.events.list_async({"created": {"gte": now - 60, "lte": now + 60}})
    future = await client.v1.events.list_async({"created": {"gt": now + 60}})

    assert [e.type for e in by_type.data] == ["refund.created"]
    assert [e.type for e in by_glob.data] == ["charge.dispute.created", "charge.refunded"]
    assert [e.type for e in by_types.data] == ["refund.created", "charge.refunded"]
    assert len(recent.data) == 3
    assert future.data == []


async def test_events_are_scoped_by_account_and_retrievable(fake, client):
    """A connected account's events are listed and retrieved only with its Stripe-Account."""
    [platform_id] = _emit(fake, 1)
    [connected_id] = _emit(fake, 1, account="acct_seller1")

    platform = await client.v1.events.list_async()
    connected = await client.v1.events.retrieve_async(
        connected_id, options={"stripe_account": "acct_seller1"}
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.events.retrieve_async(connected_id)

    assert [e.id for e in platform.data] == [platform_id]
    assert connected.account == "acct_seller1"
    assert caught.value.http_status == 404


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"starting_after": "evt_missing"}, "starting_after"),
        ({"type": "a", "types": ["b"]}, None),
    ],
)
async def test_invalid_list_params_are_rejected(fake, client, params, param):
    """Out-of-range limits, unknown cursors and type+types together are 400s."""
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.events.list_async(params)

    assert caught.value.http_status == 400
    assert caught.value.param == param
