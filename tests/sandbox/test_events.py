"""`GET /v1/events`: filters, cursors and the SDK's auto-pagination."""

import time

import httpx
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


PAGER = {"stripe_account": "acct_pager"}


async def test_auto_paging_walks_hundreds_of_events_exactly_once_per_account(fake, client):
    """Over 250 events, interleaved across the platform and a connected account: each list
    walks its own account's events once, newest first, keeping Stripe-Account on every page."""
    platform, connected = [], []
    for i in range(260):
        platform += _emit(fake, 1)
        if i < 255:
            connected += _emit(fake, 1, account="acct_pager")

    first = await client.v1.events.list_async({"limit": 100})
    platform_walk = [e.id async for e in first.auto_paging_iter()]
    mark = len(fake.requests)
    first = await client.v1.events.list_async({"limit": 100}, PAGER)
    connected_walk = [e.id async for e in first.auto_paging_iter()]

    assert platform_walk == platform[::-1]
    assert connected_walk == connected[::-1]
    pages = fake.requests[mark:]
    assert [r.query.get("starting_after") for r in pages] == [
        None,
        connected[::-1][99],
        connected[::-1][199],
    ]
    assert {r.account for r in pages} == {"acct_pager"}


async def test_types_filter_pages_in_both_spellings(fake, client, base_url):
    """types[] (as curl writes it) and types[N] (as the SDK does) give the same events."""
    wanted = _emit(fake, 3, "refund.failed") + _emit(fake, 2, "charge.dispute.created")
    _emit(fake, 4, "sandbox.tick")

    page = await client.v1.events.list_async(
        {"types": ["refund.failed", "charge.dispute.created"], "limit": 2}
    )
    walked = [e.id async for e in page.auto_paging_iter()]
    async with httpx.AsyncClient(base_url=base_url) as http:
        raw = await http.get(
            "/v1/events?types[]=refund.failed&types[]=charge.dispute.created",
            headers={"Authorization": "Bearer sk_test_sandbox"},
        )

    assert walked == wanted[::-1]
    assert [e["id"] for e in raw.json()["data"]] == wanted[::-1]


async def test_created_gte_keeps_events_from_then_on_ordered_by_created(fake, client):
    """created[gte] drops older events; lists order by `created`, not by recording order."""
    now = int(time.time())
    newest = fake.make_event("sandbox.tick", {"id": "a"}, created=now)["id"]
    old = fake.make_event("sandbox.tick", {"id": "b"}, created=now - 3600)["id"]
    middle = fake.make_event("sandbox.tick", {"id": "c"}, created=now - 600)["id"]

    everything = await client.v1.events.list_async()
    recent = await client.v1.events.list_async({"created": {"gte": now - 600}})

    assert [e.id for e in everything.data] == [newest, middle, old]
    assert [e.id for e in recent.data] == [newest, middle]


async def test_events_older_than_thirty_days_are_gone(fake, client):
    """As on Stripe, an event past 30 days is neither listed nor retrievable."""
    stale = fake.make_event("sandbox.tick", {"id": "x"}, created=int(time.time()) - 31 * 86400)
    [fresh] = _emit(fake, 1)

    listed = await client.v1.events.list_async()
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client.v1.events.retrieve_async(stale["id"])

    assert [e.id for e in listed.data] == [fresh]
    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")
    assert (await client.v1.events.retrieve_async(fresh)).id == fresh


async def test_delivery_success_splits_delivered_from_undelivered(delivering, receiver, client):
    """delivery_success=true lists what an endpoint accepted; false what was dropped or
    never accepted; delivered events no longer count as pending_webhooks."""
    delivering.drop_deliveries(2)
    dropped = _emit(delivering, 2)
    delivered = _emit(delivering, 1)
    assert delivering.wait_for_deliveries(5)
    receiver.wait_for(1)

    ok = await client.v1.events.list_async({"delivery_success": True})
    not_ok = await client.v1.events.list_async({"delivery_success": False})

    assert [e.id for e in ok.data] == delivered
    assert ok.data[0].pending_webhooks == 0
    assert [e.id for e in not_ok.data] == dropped[::-1]
    assert not_ok.data[0].pending_webhooks == 1


async def test_delivery_success_counts_an_event_given_up_on_as_failed(delivering, receiver, client):
    """An event whose every attempt failed is listed under delivery_success=false."""
    receiver.fail_next(10)
    [failing] = _emit(delivering, 1)
    assert delivering.wait_for_deliveries(5)

    not_ok = await client.v1.events.list_async({"delivery_success": False})
    ok = await client.v1.events.list_async({"delivery_success": True})

    assert [e.id for e in not_ok.data] == [failing]
    assert ok.data == []
    assert len(receiver.received) == 3  # the first attempt and both retries
