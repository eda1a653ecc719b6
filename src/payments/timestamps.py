"""The one type of every date and time the API returns: UTC, always in one format.

Postgres hands back aware datetimes; SQLite keeps no zone, so the same column came
out as `2026-12-01T14:07:06` there and `2026-12-01T14:07:06.123456Z` on Postgres.
Every timestamp is written in UTC (the database's CURRENT_TIMESTAMP, or Python's
`datetime.now(UTC)`), so a naive value is UTC; each is sent as RFC 3339 with
microseconds and `Z`, whatever the database and whatever the value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    return value.strftime(FORMAT)


Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(_rfc3339, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "UTC, RFC 3339 with microseconds",
            "examples": ["2026-12-01T14:07:06.123456Z"],
        }
    ),
]
