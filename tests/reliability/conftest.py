"""Fixtures of the reliability suite: a database of each test's own, the Stripe test server
reset, a seeded random source, and `payments serve` processes stopped at the end.

The helpers themselves live beside this file: `service.py` (the real process),
`proxy.py` (a database the test can take away) and `market.py` (the load and the
exactly-once checks).
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path

import pytest

from payments.migrate import upgrade
from payments.sandbox.stripe_server import FakeStripe
from tests.reliability.service import Service, service_env
from tests.support.postgres import PostgresServer, create_database, drop_database

# Every random choice of a test (carts, copies, who gets which delivery) comes from one
# seeded source, so a failure replays the same plan: RELIABILITY_SEED=<n> to vary it.
SEED = os.environ.get("RELIABILITY_SEED", "20261201")


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    return random.Random(f"{SEED}:{request.node.name}")  # noqa: S311 (test data, not secrets)


@pytest.fixture
def fake(fake_stripe: FakeStripe) -> FakeStripe:
    """The suite's Stripe server, emptied for this test."""
    fake_stripe.reset()
    return fake_stripe


@pytest.fixture
async def database(pg_server: PostgresServer) -> AsyncIterator[str]:
    """A migrated database of this test's own: the services' load never meets another test."""
    name = f"payments_rel_{uuid.uuid4().hex[:8]}"
    await create_database(pg_server, name)
    url = pg_server.database_url(name)
    await upgrade(url)
    yield url
    await drop_database(pg_server, name)


ServiceFactory = Callable[..., Service]


@pytest.fixture
def services(
    stripe_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ServiceFactory]:
    """`services(database_url, **settings)`: a `payments serve` (not started yet) on the
    suite's Stripe server; every one made is stopped at the end of the test. A failing
    test prints the end of each one's log."""
    made: list[Service] = []

    def make(database_url: str, **settings: str) -> Service:
        env = service_env(database_url, stripe_url, **settings)
        service = Service(env, log_path=tmp_path / f"service-{len(made) + 1}.log")
        made.append(service)
        return service

    yield make
    for service in made:
        service.stop()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for service in made:
            tail = "\n".join(line[:300] for line in service.log().splitlines()[-30:])
            print(f"--- {service.log_path.name} (last lines) ---\n{tail}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
