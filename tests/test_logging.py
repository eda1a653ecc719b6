"""Log lines: readable at a terminal, JSON lines anywhere else, LOG_FORMAT wins (real
processes: a pty stands in for the person's terminal); request ids safe to echo and log."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import Shop
from tests.support.processes import (
    bare_env,
    free_port,
    line_with,
    output_on_a_terminal,
    running_service,
)


def test_logs_at_a_terminal_are_rendered_for_people(tmp_path) -> None:
    """With no LOG_FORMAT, a terminal gets console lines, not JSON."""
    env = bare_env(SANDBOX_PORT=str(free_port()))

    output = output_on_a_terminal(env, cwd=tmp_path, until="service.started")

    started = line_with(output, "service.started")
    assert not started.lstrip().startswith("{")
    assert "[info" in started


def test_piped_logs_are_json_lines(tmp_path) -> None:
    """With no LOG_FORMAT, output to a pipe or file is one JSON object per line."""
    env = bare_env(SANDBOX_PORT=str(free_port()))
    log_path = tmp_path / "service.log"

    with running_service(env, cwd=tmp_path, log_path=log_path):
        pass

    started = json.loads(line_with(log_path.read_text(), '"service.started"'))
    assert started["event"] == "service.started"


def test_log_format_setting_wins_at_a_terminal(tmp_path) -> None:
    """LOG_FORMAT=json gives JSON lines even on a terminal."""
    env = bare_env(SANDBOX_PORT=str(free_port()), LOG_FORMAT="json")

    output = output_on_a_terminal(env, cwd=tmp_path, until="service.started")

    assert json.loads(line_with(output, "service.started"))["event"] == "service.started"


def echoed_ids(response) -> list[bytes]:
    """The X-Request-ID values of a response, as the bytes on the wire."""
    return [value for name, value in response.headers.raw if name.lower() == b"x-request-id"]


@pytest.mark.parametrize(
    "given", [b"abc-123", b"req_1Nv0FGQ9", b"3fa85f64-5717-4562-b3fc-2c963f66afa6", b"a.b:c"]
)
async def test_a_plain_request_id_is_echoed_as_sent(shop: Shop, given) -> None:
    """Ids made of letters, digits and `._:-` (UUIDs, req_ ids) come back byte for byte."""
    response = await shop.client.get("/healthz", headers=[(b"X-Request-ID", given)])

    assert echoed_ids(response) == [given]


@pytest.mark.parametrize(
    "given",
    [b"\xff\xfe", b"caf\xc3\xa9", b"a b", b"<script>", b'"x"', b"k=v;x", b"x" * 65, b""],
    ids=["latin-1", "utf-8", "space", "markup", "quotes", "key-value", "65 chars", "empty"],
)
async def test_any_other_request_id_is_replaced_by_a_fresh_one(shop: Shop, given) -> None:
    """Non-ASCII, spaces, markup or an over-long id are not echoed nor logged: a new id is."""
    response = await shop.client.get("/healthz", headers=[(b"X-Request-ID", given)])

    ids = echoed_ids(response)
    assert len(ids) == 1
    assert ids[0] != given
    assert re.fullmatch(rb"[0-9a-f]{32}", ids[0])
