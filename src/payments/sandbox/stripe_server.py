"""FakeStripe: a local Stripe-compatible server plus the controls tests and sandbox mode need.

The real `stripe` SDK talks to `fake.app` over HTTP (point `base_addresses["api"]`
at the URL from `serve_in_thread`). A buyer pays on the hosted page at the
session's `url`; the Python methods play the same parts from code: paying or
abandoning a Checkout Session, emitting and signing webhook events, injecting
failures. Once `configure_delivery` names the endpoints, every recorded event is
also POSTed to them, signed and retried like Stripe, with chaos on demand.

What Stripe does on its own after a payment (a refund made in the Dashboard, a
pending refund settling or failing, a dispute opening and being decided) is
played by the methods below and by the same controls under /_sandbox. They act
on whichever account the object lives on and raise KeyError for an unknown id and
ChangeRefused (a ValueError with Stripe's error `code` and `param`) for a change
Stripe would not make.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette

from payments.sandbox import checkout, disputes, events, refunds
from payments.sandbox.app import create_app
from payments.sandbox.background import BackgroundLoop, Pending
from payments.sandbox.buyer import Buyer
from payments.sandbox.chaos import Chaos, ChaosSettings
from payments.sandbox.checkout import FreePaymentStatus, Outcome
from payments.sandbox.control import Control
from payments.sandbox.delivery import DEFAULT_RETRY_DELAYS, Deliverer, DeliveryAttempt, Drop
from payments.sandbox.errors import ApiError, ChangeRefused
from payments.sandbox.faults import Faults
from payments.sandbox.hosted_checkout import HostedCheckout
from payments.sandbox.idempotency import IdempotencyKeys
from payments.sandbox.recording import RecordedRequest, RequestLog
from payments.sandbox.server import serve_in_thread
from payments.sandbox.signing import sign_payload
from payments.sandbox.store import Account, AnyAccount, RefundRecord, RefundStatus, Store

__all__ = [
    "ChangeRefused",
    "Chaos",
    "DeliveryAttempt",
    "FakeStripe",
    "RecordedRequest",
    "RefundRecord",
    "serve_in_thread",
    "sign_payload",
]


class FakeStripe:
    """One sandbox Stripe: its objects, events, request log and fault injections.

    All state is guarded by locks: the server runs in its own thread and event
    loop while callers inspect and drive it from another. Work that happens later
    (webhook deliveries, delayed-payment settlements) runs on a background thread
    of its own, started on first use; `close()` stops it.
    """

    def __init__(
        self,
        *,
        webhook_secret: str,
        connect_webhook_secret: str,
        livemode: bool = False,
        free_payment_status: FreePaymentStatus = "no_payment_required",
        async_settle_seconds: float = 2.0,
        public_url: str | None = None,
    ) -> None:
        """`free_payment_status`: what a 100% promotion code leaves on the session.

        `async_settle_seconds`: how long a bank debit chosen on the hosted page takes
        to settle by itself. `public_url`: the base of session URLs, when browsers
        reach the sandbox at another address than the SDK (default: the request's).
        """
        self.webhook_secret = webhook_secret
        self.connect_webhook_secret = connect_webhook_secret
        self.livemode = livemode
        self._store = Store(livemode=livemode)
        self._keys = IdempotencyKeys()
        self._faults = Faults()
        self._requests = RequestLog()
        self._chaos = ChaosSettings()
        self._background = BackgroundLoop(name="sandbox-background")
        self._pending = Pending()
        self._deliverer = Deliverer(
            sign=self.signed,
            chaos=self._chaos,
            background=self._background,
            pending=self._pending,
            on_delivered=self._store.mark_delivered,
        )
        self._store.subscribe(self._deliverer.submit)
        self._buyer = Buyer(
            self._store,
            background=self._background,
            pending=self._pending,
            free_payment_status=free_payment_status,
            settle_seconds=async_settle_seconds,
        )
        pages = [
            *HostedCheckout(self._store, self._buyer, self._chaos).routes(),
            *Control(self._store, self._buyer, self._chaos, self._deliverer, self._faults).routes(),
        ]
        self.app: Starlette = create_app(
            self._store,
            keys=self._keys,
            faults=self._faults,
            requests=self._requests,
            pages=pages,
            public_url=public_url,
        )

    def reset(self) -> None:
        """Forget objects, events, requests, idempotency keys, faults, chaos and deliveries;
        refunds succeed at once again and no delivery is dropped.

        Deliveries and settlements still scheduled are dropped; where events are
        delivered (`configure_delivery`) is configuration and stays.
        """
        self._pending.reset()
        self._deliverer.clear()
        self._chaos.clear()
        self._store.clear()
        self._keys.clear()
        self._faults.clear()
        self._requests.clear()

    def close(self) -> None:
        """Stop the background thread (deliveries in flight are abandoned); safe to repeat."""
        self._pending.reset()
        self._deliverer.close()
        self._background.stop()

    # What the server was sent

    @property
    def requests(self) -> list[RecordedRequest]:
        """Copies of every request received, in arrival order."""
        return self._requests.snapshot()

    # Objects

    def sessions(self, account: AnyAccount = ...) -> list[dict[str, Any]]:
        """Checkout Sessions in creation order; `...` = every account, None = the platform."""
        return self._store.all("checkout.session", account)

    def get_session(self, session_id: str) -> dict[str, Any]:
        """A copy of the session, whichever account it lives on (KeyError if unknown)."""
        return self._get("checkout.session", session_id)

    def get_object(self, object_id: str) -> dict[str, Any]:
        """A copy of any stored object (session, payment intent, charge, refund, event)."""
        with self._store.lock:
            stored = self._store.lookup(object_id)
            if stored is None:
                raise KeyError(object_id)
            return copy.deepcopy(stored.obj)

    def refunds(self) -> list[RefundRecord]:
        """Every refund in creation order, API and Dashboard (`source`), as it is now, with its
        account and the params it was created with."""
        return self._store.refunds()

    def disputes(self, account: AnyAccount = ...) -> list[dict[str, Any]]:
        """Disputes in creation order; `...` = every account, None = the platform."""
        return self._store.all("dispute", account)

    def account_of(self, object_id: str) -> str | None:
        """The connected account an object lives on; None for the platform (KeyError if unknown)."""
        stored = self._store.lookup(object_id)
        if stored is None:
            raise KeyError(object_id)
        return stored.account

    # The buyer's side of Checkout

    def complete_session(
        self,
        session_id: str,
        outcome: Outcome = "paid",
        *,
        free_payment_status: FreePaymentStatus | None = None,
    ) -> dict[str, Any]:
        """Finish Checkout: "paid" by card, "free" via a 100% promotion code, or "async".

        Records `checkout.session.completed`; raises ValueError unless the session is open,
        and for "free" unless it was created with `allow_promotion_codes`, as on Stripe.
        A free order's payment_status defaults to the constructor's `free_payment_status`.
        Unlike the hosted page's bank debit, "async" does not settle by itself.
        """
        if free_payment_status is None:
            free_payment_status = self._buyer.free_payment_status
        return copy.deepcopy(
            checkout.complete(self._store, session_id, outcome, free_payment_status)
        )

    def succeed_async(self, session_id: str) -> dict[str, Any]:
        """The delayed payment cleared; records `checkout.session.async_payment_succeeded`."""
        return copy.deepcopy(checkout.succeed_async(self._store, session_id))

    def fail_async(self, session_id: str) -> dict[str, Any]:
        """The delayed payment failed; records `checkout.session.async_payment_failed`."""
        return copy.deepcopy(checkout.fail_async(self._store, session_id))

    def expire_session(self, session_id: str) -> dict[str, Any]:
        """The session timed out; records `checkout.session.expired` (ValueError unless open)."""
        try:
            return copy.deepcopy(checkout.expire(self._store, session_id, ...))
        except ApiError as error:
            raise ValueError(error.message) from error

    # Refunds and disputes: what Stripe, the bank or a person in the Dashboard does

    def set_refund_status(self, status: RefundStatus) -> None:
        """How refunds created from now on start: "succeeded" (the default) or "pending".

        A pending refund already counts in the charge's `amount_refunded` (as on Stripe);
        `settle_refund` or `fail_refund` decides it.
        """
        if status not in ("succeeded", "pending"):
            raise ValueError(f"refund status must be 'succeeded' or 'pending', got {status!r}")
        with self._store.lock:
            self._store.new_refund_status = status

    def refund_in_dashboard(
        self, payment_intent_id: str, amount: int | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Someone refunds the payment outside the service (default: all that is left).

        On the payment's own account, with no metadata and no `request` on its events:
        `charge.refunded` (cumulative `amount_refunded`) and `refund.created`. Too much is
        ChangeRefused with code `amount_too_large` / `charge_already_refunded`.
        """
        return self._stripe_side(
            lambda: refunds.refund_in_dashboard(
                self._store, payment_intent_id, amount=amount, reason=reason
            )
        )

    def settle_refund(self, refund_id: str) -> dict[str, Any]:
        """A pending refund succeeds; emits `refund.updated` and `charge.refund.updated`."""
        return self._stripe_side(lambda: refunds.settle_refund(self._store, refund_id))

    def fail_refund(
        self, refund_id: str, failure_reason: str = "expired_or_canceled_card"
    ) -> dict[str, Any]:
        """A pending or succeeded refund fails; its amount goes back on the charge.

        Emits `refund.failed`, `refund.updated` and `charge.refund.updated` (each carrying
        the refund, `status: failed` and the `failure_reason`).
        """
        return self._stripe_side(
            lambda: refunds.fail_refund(self._store, refund_id, failure_reason)
        )

    def open_dispute(
        self, payment_intent_id: str, reason: str = "fraudulent", amount: int | None = None
    ) -> dict[str, Any]:
        """The buyer's bank disputes the payment (default: its whole amount).

        A `dp_` dispute on the charge's account, `needs_response`, due in 7 days; the charge
        becomes `disputed` and can no longer be refunded (`charge_disputed`). Emits
        `charge.dispute.created` and `charge.dispute.funds_withdrawn`.
        """
        return self._stripe_side(
            lambda: disputes.open_dispute(
                self._store, payment_intent_id, reason=reason, amount=amount
            )
        )

    def update_dispute(self, dispute_id: str, status: str) -> dict[str, Any]:
        """Move a dispute on (`under_review`, `won`, `lost`, `warning_closed`, ...).

        Emits `charge.dispute.updated` (previous status in `previous_attributes`), then
        `charge.dispute.closed` for won/lost/warning_closed and
        `charge.dispute.funds_reinstated` for won. A closed dispute raises ChangeRefused.
        """
        return self._stripe_side(lambda: disputes.update_dispute(self._store, dispute_id, status))

    def _stripe_side(self, change: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with _as_python_errors():
            return copy.deepcopy(change())

    # Events and webhooks

    def events(self, type: str | None = None, account: AnyAccount = ...) -> list[dict[str, Any]]:
        """Copies of recorded events, newest first, optionally of one type or account."""
        with self._store.lock:
            found = [
                e
                for e in reversed(self._store.events(account))
                if type is None or e["type"] == type
            ]
            return copy.deepcopy(found)

    def last_event(self, type: str) -> dict[str, Any]:
        """The newest event of `type` on any account (KeyError if there is none)."""
        found = self.events(type)
        if not found:
            raise KeyError(f"no {type} event recorded")
        return found[0]

    def make_event(
        self,
        type: str,
        obj: dict[str, Any],
        *,
        account: Account = None,
        livemode: bool | None = None,
        created: int | None = None,
    ) -> dict[str, Any]:
        """Record an arbitrary event (unknown types, livemode mismatches) and return it.

        `created` backdates it (lists order by it; older than 30 days is no longer listed).
        """
        return events.emit(
            self._store, type, obj, account=account, livemode=livemode, created=created
        )

    def signed(
        self,
        event: dict[str, Any],
        *,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers Stripe would POST to a webhook endpoint for `event`.

        Connect events (those with `account`) are signed with the Connect endpoint's
        secret by default, because Stripe delivers them to that endpoint.
        """
        if secret is None:
            secret = self.connect_webhook_secret if "account" in event else self.webhook_secret
        body = json.dumps(event).encode()
        signature = sign_payload(body, secret, int(time.time()) if timestamp is None else timestamp)
        return body, {"Stripe-Signature": signature, "Content-Type": "application/json"}

    # Webhook delivery and chaos

    def configure_delivery(
        self,
        platform_url: str | None,
        connect_url: str | None,
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    ) -> None:
        """POST every event recorded from now on to its endpoint, signed as by `signed()`.

        Connect events go to `connect_url`, others to `platform_url`; None for one
        leaves those events undelivered, None for both turns delivery off (the
        default, for tests that deliver by hand). A non-2xx answer or a network
        error is retried after each of `retry_delays` in turn, then given up.
        """
        self._deliverer.configure(platform_url, connect_url, retry_delays)

    def set_chaos(self, chaos: Chaos, session_id: str | None = None) -> None:
        """Misbehave when delivering: for one session's events, or by default (None).

        A per-session setting wins over the default; it applies to events recorded
        after the call.
        """
        self._chaos.set(chaos, session_id)

    def drop_deliveries(self, count: Drop) -> None:
        """Never deliver the next `count` events (that have an endpoint), or "all" from now
        on; 0 stops. The events are still recorded and listed by `GET /v1/events`
        (`delivery_success=false` finds them); the log shows them as attempt 0, DROPPED.
        Unlike chaos `never`, no per-session chaos setting overrides this."""
        self._deliverer.drop(count)

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        """Every delivery attempt so far, in the order they were made."""
        return self._deliverer.attempts()

    def wait_for_deliveries(self, timeout: float) -> bool:
        """Block until no delivery or settlement is pending or scheduled; False on timeout.

        Events held back by chaos `reorder` count as pending until they are sent.
        """
        return self._pending.wait_idle(timeout)

    # Fault injection

    def fail_next(
        self,
        n: int,
        *,
        status: int = 500,
        path_prefix: str = "/v1/",
        error_type: str = "api_error",
        code: str | None = None,
        should_retry: bool | None = None,
    ) -> None:
        """The next `n` matching requests get this error and change nothing.

        `should_retry` sets `Stripe-Should-Retry`, which the SDK obeys over its defaults.
        """
        self._faults.fail_next(
            n,
            status=status,
            path_prefix=path_prefix,
            error_type=error_type,
            code=code,
            should_retry=should_retry,
        )

    def delay_next(self, n: int, seconds: float, *, path_prefix: str = "/v1/") -> None:
        """Hold the next `n` matching requests before answering (to trip client timeouts).

        A held POST still takes effect after the client gave up, as it would on Stripe.
        """
        self._faults.delay_next(n, seconds, path_prefix=path_prefix)

    def _get(self, object_name: str, object_id: str) -> dict[str, Any]:
        found = self.get_object(object_id)
        if found["object"] != object_name:
            raise KeyError(object_id)
        return found


@contextmanager
def _as_python_errors() -> Iterator[None]:
    """The Python side's errors: KeyError for an unknown id, ChangeRefused for the rest."""
    try:
        yield
    except ApiError as error:
        if error.code == "resource_missing":
            raise KeyError(error.message) from error
        raise ChangeRefused(error) from error
