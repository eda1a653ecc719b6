"""StripeProvider.list_events, what a pass reads, through the real SDK against the sandbox."""

from __future__ import annotations

import time

from payments.providers.stripe import HANDLED_EVENTS, StripeProvider
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import STRIPE_KEY

DISPUTE = {
    "object": "dispute",
    "amount": 2500,
    "currency": "usd",
    "status": "needs_response",
    "payment_intent": "pi_listed",
}


async def listed(provider: StripeProvider, account: str | None, created_gte: int = 0) -> list:
    found = provider.list_events(
        account=account, created_gte=created_gte, types=sorted(HANDLED_EVENTS)
    )
    return [event async for event in found]


async def test_every_page_of_an_accounts_handled_events_is_read(
    fake_stripe: FakeStripe, stripe_url: str
) -> None:
    """More than a page (Stripe gives 100 at most): all of the account's handled events,
    newest first, each read as its webhook would be; other types and accounts left out."""
    fake_stripe.reset()
    made = []
    for i in range(230):
        dispute = {**DISPUTE, "id": f"dp_{i}"}
        made.append(fake_stripe.make_event("charge.dispute.created", dispute, account="acct_a"))
        fake_stripe.make_event("customer.created", {"id": f"cus_{i}", "object": "customer"})
    fake_stripe.make_event("charge.dispute.created", {**DISPUTE, "id": "dp_b"}, account="acct_b")
    provider = StripeProvider(STRIPE_KEY, api_base=stripe_url, max_network_retries=0)
    try:
        on_a = await listed(provider, "acct_a")
        on_platform = await listed(provider, None)
    finally:
        await provider.aclose()

    assert [event.id for event in on_a] == [event["id"] for event in reversed(made)]
    assert {event.account for event in on_a} == {"acct_a"}
    assert on_a[0].dispute is not None
    assert (on_a[0].dispute.dispute_id, on_a[0].dispute.amount) == ("dp_229", 2500)
    assert on_platform == []  # the customers' events are not of a type the service acts on
    pages = [r for r in fake_stripe.requests if r.path == "/v1/events" and r.account == "acct_a"]
    assert len(pages) == 3


async def test_events_before_the_window_are_not_listed(
    fake_stripe: FakeStripe, stripe_url: str
) -> None:
    """`created_gte` is sent as Stripe's `created[gte]`: a window after the events lists none."""
    fake_stripe.reset()
    fake_stripe.make_event("charge.dispute.created", {**DISPUTE, "id": "dp_old"})
    provider = StripeProvider(STRIPE_KEY, api_base=stripe_url, max_network_retries=0)
    try:
        later = await listed(provider, None, created_gte=int(time.time()) + 60)
        now = await listed(provider, None, created_gte=int(time.time()) - 60)
    finally:
        await provider.aclose()

    assert later == []
    assert [event.dispute.dispute_id for event in now if event.dispute] == ["dp_old"]
