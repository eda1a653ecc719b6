"""Log lines: readable at a terminal, JSON lines anywhere else, LOG_FORMAT wins. Real
processes: a pty stands in for the person's terminal."""

from __future__ import annotations

import json

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
