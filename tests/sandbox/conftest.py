"""One sandbox server for the whole package, reset before every test.

Delivery tests add a webhook receiver on its own port (`receiver`) and point the
sandbox at it (`delivering`), with retry delays short enough to keep tests fast.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import stripe

from payments.sandbox.stripe_server import FakeStripe, serve_in_thread

from .receiver import Receiver

WEBHOOK_SECRET = "whsec_platform_test"
CONNECT_WEBHOOK_SECRET = "whsec_connect_test"
SETTLE_SECONDS = 0.2
RETRY_DELAYS = (0.05, 0.1)


@pytest.fixture(scope="session")
def fake_and_url() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe(
        webhook_secret=WEBHOOK_SECRET,
        connect_webhook_secret=CONNECT_WEBHOOK_SECRET,
        async_settle_seconds=SETTLE_SECONDS,
    )
    with serve_in_thread(fake.app) as base_url:
        yield fake, base_url
    fake.close()


@pytest.fixture
def fake(fake_and_url: tuple[FakeStripe, str]) -> FakeStripe:
    server, _ = fake_and_url
    server.reset()
    return server


@pytest.fixture
def base_url(fake_and_url: tuple[FakeStripe, str], fake: FakeStripe) -> str:
    """Depends on `fake` so that any test talking HTTP starts from a reset sandbox."""
    return fake_and_url[1]


@pytest.fixture(scope="session")
def receiver_and_url() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    with serve_in_thread(receiver.app) as url:
        yield receiver, url


@pytest.fixture
def receiver(receiver_and_url: tuple[Receiver, str]) -> Receiver:
    found, _ = receiver_and_url
    found.reset()
    return found


@pytest.fixture
def delivering(
    fake: FakeStripe, receiver: Receiver, receiver_and_url: tuple[Receiver, str]
) -> Iterator[FakeStripe]:
    """The sandbox, delivering to the receiver's /platform and /connect endpoints."""
    url = receiver_and_url[1]
    fake.configure_delivery(f"{url}/platform", f"{url}/connect", retry_delays=RETRY_DELAYS)
    yield fake
    fake.configure_delivery(None, None)
    fake.reset()


ClientFactory = Callable[..., stripe.StripeClient]


@pytest.fixture
async def make_client(base_url: str) -> AsyncIterator[ClientFactory]:
    """Build real SDK clients against the sandbox (or `api_base`); pools close after the test."""
    http_clients: list[stripe.HTTPXClient] = []

    def build(
        api_key: str = "sk_test_sandbox",
        *,
        timeout: float = 5,
        max_network_retries: int | None = None,
        api_base: str | None = None,
    ) -> stripe.StripeClient:
        http_client = stripe.HTTPXClient(timeout=timeout)
        http_clients.append(http_client)
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base or base_url},
            http_client=http_client,
            max_network_retries=max_network_retries,
        )

    yield build
    for http_client in http_clients:
        await http_client.close_async()


@pytest.fixture
def client(make_client: ClientFactory) -> stripe.StripeClient:
    return make_client()


# stripe-python's HTTPXClient posts form bodies via `data=<str>`, which httpx deprecates;
# that is the SDK's business, not something these tests can act on.
_SDK_HTTPX_WARNING = (
    "ignore:Use 'content=<...>' to upload raw bytes/text content:DeprecationWarning"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.filterwarnings(_SDK_HTTPX_WARNING))
