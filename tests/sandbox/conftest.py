"""One sandbox server for the whole package, reset before every test."""

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import stripe

from payments.sandbox.stripe_server import FakeStripe, serve_in_thread

WEBHOOK_SECRET = "whsec_platform_test"
CONNECT_WEBHOOK_SECRET = "whsec_connect_test"


@pytest.fixture(scope="session")
def fake_and_url() -> Iterator[tuple[FakeStripe, str]]:
    fake = FakeStripe(webhook_secret=WEBHOOK_SECRET, connect_webhook_secret=CONNECT_WEBHOOK_SECRET)
    with serve_in_thread(fake.app) as base_url:
        yield fake, base_url


@pytest.fixture
def fake(fake_and_url: tuple[FakeStripe, str]) -> FakeStripe:
    server, _ = fake_and_url
    server.reset()
    return server


@pytest.fixture
def base_url(fake_and_url: tuple[FakeStripe, str], fake: FakeStripe) -> str:
    """Depends on `fake` so that any test talking HTTP starts from a reset sandbox."""
    return fake_and_url[1]


ClientFactory = Callable[..., stripe.StripeClient]


@pytest.fixture
async def make_client(base_url: str) -> AsyncIterator[ClientFactory]:
    """Build real SDK clients against the sandbox; their HTTP pools close after the test."""
    http_clients: list[stripe.HTTPXClient] = []

    def build(
        api_key: str = "sk_test_sandbox",
        *,
        timeout: float = 5,
        max_network_retries: int | None = None,
    ) -> stripe.StripeClient:
        http_client = stripe.HTTPXClient(timeout=timeout)
        http_clients.append(http_client)
        return stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url},
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
