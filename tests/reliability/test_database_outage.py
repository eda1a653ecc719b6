"""The database going away under load, in a real `payments serve`: down (connections reset),
hanging (nothing answers), or closed (Postgres refuses new connections with an error, as
ALLOW_CONNECTIONS false, a full max_connections or a server starting up do). While it lasts
every delivery gets a 503 (Stripe retries) and /readyz says so; when it ends the service
recovers by itself, and Stripe's redeliveries confirm every order exactly once.

tests/webhooks/test_outage.py and tests/test_db.py check the single request (one event, a
stopped cluster, a closed database, a server that never answers, a pool or a statement that
times out) in-process; this is the same under concurrent load, mid-transaction, through a
proxy the test controls, on the test's own database or on a cluster of its own (the shared
server is never stopped). Last, a lock held past the command timeout: the database up, but
every statement stuck.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from payments.migrate import upgrade
from payments.sandbox.stripe_server import FakeStripe
from tests.conftest import wait_until
from tests.reliability.conftest import ServiceFactory
from tests.reliability.market import (
    Stripe,
    assert_exactly_once,
    connect,
    open_market,
    statuses,
)
from tests.reliability.proxy import DatabaseProxy
from tests.support.postgres import PostgresServer, create_database, throwaway_cluster
from tests.webhooks.test_outage import allow_connections

ORDERS = 120
REDELIVERY_ROUNDS = 5
# Small, so each request meets its bound quickly; the test asserts status codes, not times.
TIMEOUTS = {
    "DB_CONNECT_TIMEOUT_SECONDS": "1",
    "DB_COMMAND_TIMEOUT_SECONDS": "1",
    "DB_POOL_TIMEOUT_SECONDS": "1",
}


def through(proxy: DatabaseProxy, database_url: str) -> str:
    """The same database, reached through the proxy."""
    parts = urlsplit(database_url)
    auth, _, _ = parts.netloc.rpartition("@")
    netloc = f"{auth}@127.0.0.1:{proxy.port}" if auth else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def proxy_to(server: PostgresServer) -> DatabaseProxy:
    parts = urlsplit(server.admin_url)
    assert parts.hostname, "the database proxy needs a server reached over TCP"
    return DatabaseProxy(parts.hostname, parts.port or 5432)


@dataclass(frozen=True)
class Outage:
    """One way the database goes away, and comes back."""

    failure: str
    proxy: DatabaseProxy
    server: PostgresServer
    database_url: str

    async def begin(self) -> None:
        if self.failure == "down":
            self.proxy.refuse()
        elif self.failure == "hang":
            self.proxy.hang()
        else:  # closed: what a DBA does to a database (only this test's own)
            await allow_connections(self.server, self._name(), allowed=False)

    async def end(self) -> None:
        if self.failure == "closed":
            await allow_connections(self.server, self._name(), allowed=True)
        else:
            self.proxy.restore()

    def _name(self) -> str:
        return unquote(urlsplit(self.database_url).path.lstrip("/"))


async def readyz(url: str) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        return (await client.get(f"{url}/readyz")).status_code


@pytest.mark.parametrize("failure", ["down", "hang", "closed"])
async def test_database_outage_under_load_503s_then_recovers_and_loses_nothing(
    failure: str,
    database: str,
    pg_server: PostgresServer,
    services: ServiceFactory,
    fake: FakeStripe,
    rng: random.Random,
) -> None:
    """Cut mid-load: in-flight deliveries end 200 or 503; during: only 503s, /readyz 503;
    after: ready again without a restart, redeliveries pay every order exactly once."""
    with proxy_to(pg_server) as proxy:
        # The outbox stays off: a refund claimed just before the cut would wait out its
        # lease (a minute) before anyone retries it; its crash is test_crash's and the
        # lease tests' subject. The refunds are still queued, and checked.
        service = services(through(proxy, database), OUTBOX_ENABLED="false", **TIMEOUTS)
        with service:
            async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
                market = await open_market(client, fake, rng, orders=ORDERS)
            stripe = Stripe(fake, market, [service.url], rng)
            ids = [p.order_id for p in market.purchases]
            before, cut, during = ids[:40], ids[40:80], ids[80:]

            healthy = await stripe.run(stripe.storm(before, copies=(1, 2)))
            assert statuses(healthy) == {200: len(healthy)}

            load = asyncio.create_task(stripe.run(stripe.storm(cut, copies=(1, 3))))
            await wait_until(lambda: len(stripe.answers) >= len(healthy) + 20, within=60)
            outage = Outage(failure, proxy, pg_server, database)
            await outage.begin()
            in_flight = await load
            assert set(statuses(in_flight)) <= {200, 503}

            redelivered = rng.sample(before, 10)
            meanwhile = await stripe.run(stripe.storm(during + redelivered, copies=(1, 2)))
            assert statuses(meanwhile) == {503: len(meanwhile)}
            assert await readyz(service.url) == 503

            await outage.end()
            await wait_until(lambda: _ready(service.url), within=30)
            recovered = []
            for _ in range(REDELIVERY_ROUNDS):
                missing = [o for o in ids if o not in stripe.acknowledged()]
                if not missing:
                    break
                recovered += await stripe.run(stripe.storm(missing, copies=(1, 2)))
            assert set(statuses(recovered)) <= {200, 503}
            assert stripe.acknowledged() == set(ids)
            print(  # in the report of a failure, and with -s
                f"{failure}: cut mid-load {dict(statuses(in_flight))}, during"
                f" {dict(statuses(meanwhile))}, after {dict(statuses(recovered))}"
            )

    outcome = await assert_exactly_once(database, fake, market, refunds_sent=False)
    assert outcome.refunded > 0


async def _ready(url: str) -> bool:
    return await readyz(url) == 200


LOCK_SECONDS = 4
POOL = 10
# Why this test: a timed-out statement whose connection is simply dropped is not cancelled
# on the server; it keeps a backend waiting (and commits after its 503) while the pool opens
# another connection. That once took a 20-connection service to the cluster's limit of 100
# within a 5 s lock, and then every client of the cluster was refused.


async def test_lock_held_past_the_command_timeout_503s_within_the_pool_and_loses_nothing(
    services: ServiceFactory, fake: FakeStripe, rng: random.Random
) -> None:
    """A migration or a forgotten transaction holds the orders table past the command timeout
    under load: deliveries get 200 or 503 (never 500), the service stays within its pool
    (a timed-out statement is cancelled, not left running on the server while another
    connection replaces it), and afterwards redeliveries confirm every order exactly once."""
    with throwaway_cluster() as cluster:  # its connection limit is this test's to exhaust
        await create_database(cluster.server, "payments")
        database_url = cluster.server.database_url("payments")
        await upgrade(database_url)
        service = services(database_url, DB_POOL_SIZE=str(POOL), OUTBOX_ENABLED="false", **TIMEOUTS)
        with service:
            async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
                market = await open_market(client, fake, rng, orders=ORDERS)
            stripe = Stripe(fake, market, [service.url], rng)
            ids = [p.order_id for p in market.purchases]
            locker, watcher = await connect(database_url), await connect(database_url)
            try:
                load = asyncio.create_task(stripe.run(stripe.storm(ids, copies=(1, 3))))
                await wait_until(lambda: len(stripe.answers) >= 20, within=60)
                async with locker.transaction():
                    await locker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
                    peak = await peak_connections(watcher, seconds=LOCK_SECONDS)
                locked = await load
            finally:
                await locker.close()
                await watcher.close()
            assert set(statuses(locked)) <= {200, 503}
            # Twice the pool, so a backend still ending after its cancel is no failure.
            assert peak <= 2 * POOL, f"{peak} connections for a pool of {POOL}"

            for _ in range(REDELIVERY_ROUNDS):
                missing = [o for o in ids if o not in stripe.acknowledged()]
                if not missing:
                    break
                await stripe.run(stripe.storm(missing, copies=(1, 2)))
            assert stripe.acknowledged() == set(ids)
        await assert_exactly_once(database_url, fake, market, refunds_sent=False)


async def peak_connections(watcher: asyncpg.Connection, *, seconds: float) -> int:
    """The most backends the service held at once, sampled over `seconds`."""
    peak = 0
    for _ in range(int(seconds / 0.25)):
        await asyncio.sleep(0.25)
        count = await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'payments'"
        )
        peak = max(peak, count)
    return peak
