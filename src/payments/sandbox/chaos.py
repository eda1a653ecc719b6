"""Chaos knobs: Stripe's bad days on demand, for one session or for every delivery.

Stripe promises at-least-once, unordered, eventually-retried webhook delivery; a
service that only ever sees prompt, ordered, single deliveries has never been
tested against that promise. Each knob makes one part of it happen every time.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

_FLAGS = ("duplicate", "reorder", "never")
_KNOBS = ("delay", *_FLAGS, "fail_first")


@dataclass(frozen=True)
class Chaos:
    """How webhook deliveries misbehave; the default misbehaves in no way.

    delay: seconds before the first attempt. duplicate: every event is sent twice
    (same id). reorder: a session's events pending together go newest first, and a
    `checkout.session.completed` awaiting a delayed payment is held until the
    settlement exists. never: recorded, never sent. fail_first: the first N
    attempts of each event count as failed without being sent, then backoff retries.
    """

    delay: float = 0.0
    duplicate: bool = False
    reorder: bool = False
    never: bool = False
    fail_first: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.delay, bool) or not isinstance(self.delay, int | float):
            raise ValueError(f"chaos delay must be a number of seconds, got {self.delay!r}")
        if not math.isfinite(self.delay) or self.delay < 0:
            raise ValueError(f"chaos delay must be a finite number >= 0, got {self.delay!r}")
        for flag in _FLAGS:
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"chaos {flag} must be true or false, got {getattr(self, flag)!r}")
        if isinstance(self.fail_first, bool) or not isinstance(self.fail_first, int):
            raise ValueError(f"chaos fail_first must be an integer, got {self.fail_first!r}")
        if self.fail_first < 0:
            raise ValueError(f"chaos fail_first must be >= 0, got {self.fail_first}")

    @classmethod
    def parse(cls, spec: str) -> Chaos:
        """Read `"delay=5,duplicate,reorder,never,fail_first=2"`; "" means no chaos.

        Flags are bare names (or `name=true|false`); raises ValueError naming an
        unknown knob or a bad value, so a typo in SANDBOX_CHAOS fails at startup.
        """
        values: dict[str, Any] = {}
        for raw in spec.split(","):
            token = raw.strip()
            if not token:
                continue
            name, has_value, value = (part.strip() for part in token.partition("="))
            _check_known(name)
            if name in _FLAGS:
                values[name] = _flag(name, value) if has_value else True
            elif not has_value or not value:
                raise ValueError(f"chaos knob {name!r} needs a value, e.g. {name}=2")
            elif name == "delay":
                values[name] = _number(name, value, float)
            else:
                values[name] = _number(name, value, int)
        return cls(**values)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Chaos:
        """Build from decoded JSON (the control endpoint); missing knobs keep their defaults."""
        for name in data:
            _check_known(name)
        values = dict(data)
        if isinstance(values.get("delay"), int) and not isinstance(values["delay"], bool):
            values["delay"] = float(values["delay"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __str__(self) -> str:
        """The `parse` spelling of these knobs, so `Chaos.parse(str(c)) == c`."""
        parts: list[str] = []
        if self.delay:
            parts.append(f"delay={self.delay:g}")
        parts.extend(flag for flag in _FLAGS if getattr(self, flag))
        if self.fail_first:
            parts.append(f"fail_first={self.fail_first}")
        return ",".join(parts)


NO_CHAOS = Chaos()


class ChaosSettings:
    """The global default plus per-session overrides; a per-session setting wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._default = NO_CHAOS
        self._sessions: dict[str, Chaos] = {}

    def set(self, chaos: Chaos, session_id: str | None = None) -> None:
        with self._lock:
            if session_id is None:
                self._default = chaos
            else:
                self._sessions[session_id] = chaos

    def for_session(self, session_id: str | None) -> Chaos:
        with self._lock:
            if session_id is None:
                return self._default
            return self._sessions.get(session_id, self._default)

    def clear(self) -> None:
        with self._lock:
            self._default = NO_CHAOS
            self._sessions.clear()


def _check_known(name: str) -> None:
    if name not in _KNOBS:
        raise ValueError(f"unknown chaos knob {name!r}; known knobs: {', '.join(_KNOBS)}")


def _flag(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"chaos {name} must be true or false, got {value!r}")


def _number(name: str, value: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(value)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ValueError(f"chaos {name} must be {noun}, got {value!r}") from None
