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
from typing import Any, Literal

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


RefundSource = Literal["api", "dashboard"]
"""Who made a refund: a `POST /v1/refunds` call, or someone outside the service."""

RefundStatus = Literal["succeeded", "pending"]
"""How a new refund starts: test-mode card refunds succeed at once; `pending` ones
wait for `settle_refund` or `fail_refund`."""


@dataclass(frozen=True)
class RefundRecord:
    """A refund with its account and the params the caller sent (none from the Dashboard).

    `refund` is the refund as it is now (a failed refund reads `status: failed`).
    """

    account: Account
    refund: dict[str, Any]
    request_params: dict[str, Any] = field(default_factory=dict)
    source: RefundSource = "api"


class Store:
    def __init__(self, *, livemode: bool) -> None:
        self.livemode = livemode
        self.lock = threading.RLock()
        self._objects: dict[str, Stored] = {}
        self._events: list[dict[str, Any]] = []
        self._refunds: list[RefundRecord] = []
        self._plans: dict[str, SessionPlan] = {}
        self._listeners: list[EventListener] = []
        self._delivered: set[str] = set()
        # A sandbox knob rather than memory, kept here because API handlers see only the store.
        self.new_refund_status: RefundStatus = "succeeded"

    def clear(self) -> None:
        with self.lock:
            self._objects.clear()
            self._events.clear()
            self._refunds.clear()
            self._plans.clear()
            self._delivered.clear()
            self.new_refund_status = "succeeded"

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

    def find(self, object_name: str, object_id: str, *, param: str = "id") -> Stored:
        """The live record on whichever account owns it: for what Stripe itself does (a card
        network opening a dispute, a refund in the Dashboard), not for API callers."""
        with self.lock:
            stored = self._objects.get(object_id)
            if stored is None or stored.obj["object"] != object_name:
                raise resource_missing(object_name, object_id, param=param)
            return stored

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

    def mark_delivered(self, event_id: str) -> None:
        """A webhook endpoint accepted the event (2xx): nothing is pending for it any more."""
        with self.lock:
            stored = self._objects.get(event_id)
            if stored is None or stored.obj["object"] != "event":
                return  # recorded before a reset
            self._delivered.add(event_id)
            stored.obj["pending_webhooks"] = 0

    def delivered(self, event_id: str) -> bool:
        with self.lock:
            return event_id in self._delivered

    def add_refund(self, record: RefundRecord) -> None:
        """Keep `record` as given: its `refund` should be the live stored refund."""
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
