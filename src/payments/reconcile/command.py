"""`payments reconcile [--since 72h]`: one pass now, from a terminal or a scheduler.

stdout carries the answer alone, one line: `seen=N recorded_before=N applied=N failed=N`.
Logs go to stderr, and so does a progress bar when stderr is a terminal (log lines are
written above it).
"""

from __future__ import annotations

import io
import re
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from tqdm import tqdm

from payments.config import Settings
from payments.db import Database, create_engine
from payments.errors import DatabaseUnavailable
from payments.migrate import DatabaseUnreachable, SchemaBehind, check_schema
from payments.providers.stripe import HANDLED_EVENTS, StripeProvider
from payments.reconcile.service import EVENT_RETENTION, Progress, Summary, reconcile

_SINCE = re.compile(r"([0-9]{1,7})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str) -> timedelta:
    """`30m`, `72h`, `7d`: how far back to list events; ValueError says what is wrong."""
    found = _SINCE.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"--since takes minutes, hours or days, e.g. 30m, 72h or 7d, not {text!r}")
    since = timedelta(**{_UNITS[found[2]]: int(found[1])})
    if since <= timedelta(0):
        raise ValueError(f"--since must be more than 0, not {text}")
    if since > EVENT_RETENTION:
        raise ValueError(
            f"--since {text} goes back further than Stripe keeps events (30 days); "
            "use --since 30d or less"
        )
    return since


async def run(settings: Settings, since: timedelta, *, api_base: str | None) -> Summary:
    """One pass over the last `since`; DatabaseUnreachable or SchemaBehind if it cannot
    start (the CLI says so in one line).

    It never creates or migrates a database: one that is not the service's (another
    directory's `./payments.db`, a mistyped DATABASE_URL) would be filled with what
    Stripe knows while the service's stays as it was, and the summary would look right.
    """
    if problem := missing_database(settings):
        raise SchemaBehind(problem)
    database = Database(create_engine(settings))
    provider = StripeProvider(
        settings.stripe_secret_key.get_secret_value(),
        api_base=api_base,
        timeout=settings.stripe_timeout_seconds,
        max_network_retries=settings.stripe_max_network_retries,
    )
    created_gte = int(time.time() - since.total_seconds())
    try:
        try:
            await check_schema(database)
        except DatabaseUnavailable as exc:
            raise DatabaseUnreachable(settings.database_url, exc.__cause__ or exc) from exc
        with _progress() as progress:
            reconciled = await reconcile(
                database,
                provider,
                created_gte=lambda _account: created_gte,
                types=sorted(HANDLED_EVENTS),
                livemode=settings.livemode,
                progress=progress,
            )
        return reconciled.summary
    finally:
        await provider.aclose()
        await database.dispose()


def missing_database(settings: Settings) -> str | None:
    """Why the SQLite file is not the service's database (it is not there), or None."""
    if not settings.uses_sqlite:
        return None
    path = make_url(settings.database_url).database
    if path and path != ":memory:" and not Path(path).exists():
        return (
            f"there is no database at {path}: run `payments reconcile` with the service's "
            "DATABASE_URL, or in the directory the sandbox runs in (`make run`)"
        )
    return None


def log_stream() -> Any:
    """Where the command's logs go: stderr, above the progress bar when there is one."""
    return _AboveTheBar() if sys.stderr.isatty() else sys.stderr


class _Bar:
    """A progress bar whose total grows as events are listed and orders found."""

    def __init__(self) -> None:
        self._bar = tqdm(total=0, desc="reconcile", unit="item", file=sys.stderr, leave=True)

    def found(self, count: int) -> None:
        if count:
            self._bar.total = (self._bar.total or 0) + count
            self._bar.refresh()

    def done(self, count: int) -> None:
        if count:
            self._bar.update(count)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._bar.close()


class _NoBar:
    def found(self, count: int) -> None:
        pass

    def done(self, count: int) -> None:
        pass

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass


def _progress() -> _Bar | _NoBar:
    """A bar on a terminal only: piped or in a scheduler, stderr keeps just the logs."""
    return _Bar() if sys.stderr.isatty() else _NoBar()


class _AboveTheBar(io.TextIOBase):
    """A text stream that writes whole lines through tqdm, so log lines do not break the
    bar: it is cleared, the line written, and the bar drawn again below it."""

    def __init__(self) -> None:
        super().__init__()
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            tqdm.write(line, file=sys.stderr)
        return len(text)

    def isatty(self) -> bool:
        return True
