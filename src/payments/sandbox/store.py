"""The sandbox's memory: every object with the account that owns it, plus events.

Stripe scopes objects by account (the `Stripe-Account` header, or the platform
when absent); the wire objects do not say which account they live on, so the
owner is kept beside each object instead of inside it. One re-entrant lock
guards everything because the server thread and the test thread both mutate.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

from payments.sandbox.errors import resource_missing

Account = str | None
"""A connected account id (`acct_...`), or None for the platform itself."""

AnyAccount = Account | EllipsisType
"""`...` means "every account" in read helpers; None still means the platform."""


EventListener = Callable[[dict[str, Any]], None]


@dataclass
class Stored:
    account: Account
    obj: dict[str, Any]


@dataclass(frozen=True)
class LineItem:
    """One line of a session as the hosted page shows it (Stripe keeps these off the session)."""

    name: str
    quantity: int
    unit_amount: int
    currency: str

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


@dataclass(frozen=True)
class SessionPlan:
    """Request data not shown on the session: what to create on payment, what the page lists."""

    application_fee_amount: int | None
    transfer_destination: str | None
    payment_intent_metadata: dict[str, str]
    description: str | None
    base_url: str
    line_items: tuple[LineItem, ...] = ()


@dataclass(frozen=True)
class RefundRecord:
    """A refund as created, with its account and the params the caller sent."""

    account: Account
    refund: dict[str, Any]
    request_params: dict[str, Any] = field(default_factory=dict)


class Store:
    def __init__(self, *, livemode: bool) -> None:
        self.livemode = livemode
        self.lock = threading.RLock()
        self._objects: dict[str, Stored] = {}
        self._events: list[dict[str, Any]] = []
        self._refunds: list[RefundRecord] = []
        self._plans: dict[str, SessionPlan] = {}
        self._listeners: list[EventListener] = []

    def clear(self) -> None:
        with self.lock:
            self._objects.clear()
            self._events.clear()
            self._refunds.clear()
            self._plans.clear()

    def put(self, obj: dict[str, Any], account: Account) -> None:
        with self.lock:
            self._objects[obj["id"]] = Stored(account, obj)

    def lookup(self, object_id: str) -> Stored | None:
        """The live record on any account; callers must hold the lock while mutating it."""
        with self.lock:
            return self._objects.get(object_id)

    def fetch(
        self,
        object_name: str,
        object_id: str,
        account: Account,
        *,
        param: str = "id",
        status: int = 404,
    ) -> dict[str, Any]:
        """The live object if it exists on `account`; other accounts' objects do not exist."""
        with self.lock:
            stored = self._objects.get(object_id)
            if stored is None or stored.account != account or stored.obj["object"] != object_name:
                raise resource_missing(object_name, object_id, param=param, status=status)
            return stored.obj

    def all(self, object_name: str, account: AnyAccount = ...) -> list[dict[str, Any]]:
        """Copies in creation order."""
        with self.lock:
            return [
                copy.deepcopy(stored.obj)
                for stored in self._objects.values()
                if stored.obj["object"] == object_name and _matches(stored.account, account)
            ]

    def subscribe(self, listener: EventListener) -> None:
        """Call `listener` with each event recorded from now on (survives `clear`).

        It runs under the lock, in recording order, so it must only hand the event on.
        """
        with self.lock:
            self._listeners.append(listener)

    def add_event(self, event: dict[str, Any]) -> None:
        """Events are objects too (`GET /v1/events/{id}`), and also kept in creation order."""
        with self.lock:
            self._events.append(event)
            self._objects[event["id"]] = Stored(event.get("account"), event)
            for listener in self._listeners:
                listener(event)

    def events(self, account: AnyAccount = ...) -> list[dict[str, Any]]:
        """Live events, oldest first; an event's account is its `account` key."""
        with self.lock:
            return [e for e in self._events if _matches(e.get("account"), account)]

    def add_refund(self, record: RefundRecord) -> None:
        with self.lock:
            self._refunds.append(record)

    def refunds(self) -> list[RefundRecord]:
        with self.lock:
            return copy.deepcopy(self._refunds)

    def set_plan(self, session_id: str, plan: SessionPlan) -> None:
        with self.lock:
            self._plans[session_id] = plan

    def plan(self, session_id: str) -> SessionPlan:
        with self.lock:
            return self._plans[session_id]


def _matches(owner: Account, wanted: AnyAccount) -> bool:
    return wanted is ... or owner == wanted
