"""Reconciliation inside the service: a pass every RECONCILE_INTERVAL_SECONDS.

- **When.** The first pass runs one interval after start, the next one interval after
  the previous pass ended. Not at start: Stripe's own retries of the events a restart
  missed arrive within minutes anyway, and a pass at every start would list three days
  of events at every deploy, per replica. (`payments reconcile` runs a pass now.)
- **One replica at a time.** On Postgres a pass runs only while its replica holds a
  session-level advisory lock (`pg_try_advisory_lock`) on a connection of its own; the
  others skip that turn and try again an interval later. The lock saves Stripe calls, it
  is not what keeps a pass correct: two passes at once (or a pass and `payments
  reconcile`) still apply each event once. SQLite (the sandbox) is one process: no lock.
- **Its window.** The first pass of a process lists events of the last 72 hours. Each
  account's window then starts where its last clean pass started, less a margin of five
  minutes (Stripe's clock and ours differ; an event may be listed a moment after it was
  created); an account whose pass had a failure keeps its window, so what failed is
  listed again. Never more than Stripe keeps (30 days). Open orders past their
  checkout's expiry are checked at every pass, whatever the window.
- **Failures** are logged and never stop the loop, or the service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from payments.db import Database
from payments.errors import DatabaseUnavailable, ServiceUnavailable
from payments.reconcile.service import EVENT_RETENTION, EventSource, Summary, reconcile

log = structlog.get_logger(__name__)

FIRST_WINDOW = timedelta(hours=72)
MARGIN = timedelta(minutes=5)
# The advisory lock's key: one number for every replica of this service ("payrecon").
LOCK_KEY = int.from_bytes(b"payrecon", "big")


class ReconcileLoop:
    def __init__(
        self,
        database: Database,
        provider: EventSource,
        *,
        types: Sequence[str],
        interval: float,
        livemode: bool,
        first_window: timedelta = FIRST_WINDOW,
        margin: timedelta = MARGIN,
    ) -> None:
        self._database = database
        self._provider = provider
        self._types = list(types)
        self._interval = interval
        self._livemode = livemode
        self._first_window = first_window
        self._margin = margin
        # Per account (None: the platform): where the next pass's window starts, unix seconds.
        self._since: dict[str | None, int] = {}

    async def run(self) -> None:
        """Run a pass every interval until cancelled; a failed pass is logged and the loop
        goes on."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except ServiceUnavailable:
                # The database is down or busy, already logged by `Database`: one line, no
                # traceback; the next interval tries again.
                log.warning("reconcile.paused", retry_in_seconds=self._interval)
            except Exception:  # a bug: its traceback is logged, and the loop stays alive
                log.exception("reconcile.pass_failed")

    async def run_once(self) -> Summary | None:
        """One pass if no other replica is running one; None if another is."""
        async with one_replica(self._database) as ours:
            if not ours:
                log.info("reconcile.skipped", reason="another replica is running a pass")
                return None
            started = int(time.time())
            oldest = started - int(EVENT_RETENTION.total_seconds())
            first = started - int(self._first_window.total_seconds())

            def created_gte(account: str | None) -> int:
                return max(self._since.get(account, first), oldest)

            reconciled = await reconcile(
                self._database,
                self._provider,
                created_gte=created_gte,
                types=self._types,
                livemode=self._livemode,
            )
            moved_on = started - int(self._margin.total_seconds())
            for account in reconciled.accounts:
                if account not in reconciled.failed_accounts:
                    self._since[account] = moved_on
            return reconciled.summary


@asynccontextmanager
async def one_replica(database: Database) -> AsyncIterator[bool]:
    """Whether this replica may run a pass now: True while it holds the advisory lock
    (Postgres), always True on SQLite. The lock lives on a connection held for the block
    and is released at its end; if releasing fails, the connection is discarded, which
    ends its session and so the lock."""
    if not database.is_postgres:
        yield True
        return
    try:
        connection = await database.engine.connect()
    except (SQLAlchemyError, OSError) as exc:
        raise _unavailable(exc) from exc
    try:
        try:
            taken = await connection.scalar(select(func.pg_try_advisory_lock(LOCK_KEY)))
            await connection.commit()  # the lock is the session's, not the transaction's
        except (SQLAlchemyError, OSError) as exc:
            raise _unavailable(exc) from exc
        if not taken:
            yield False
            return
        try:
            yield True
        finally:
            try:
                await connection.scalar(select(func.pg_advisory_unlock(LOCK_KEY)))
                await connection.commit()
            except BaseException:
                await connection.invalidate()
                raise
    finally:
        await connection.close()


def _unavailable(exc: BaseException) -> DatabaseUnavailable:
    log.warning("database.unavailable", error=type(exc).__name__)
    return DatabaseUnavailable()
