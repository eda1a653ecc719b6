"""The buyer's choices on the hosted checkout page, also offered to scripts via /_sandbox.

Test cards follow Stripe's: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002
is declined, and 4000 0000 0000 0259 succeeds and is at once disputed as fraudulent.
A delayed ("bank debit") payment completes the session unpaid now and settles by
itself after `settle_seconds`, as Stripe's do days later.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import structlog

from payments.sandbox import checkout, disputes
from payments.sandbox.background import BackgroundLoop, Pending
from payments.sandbox.checkout import FreePaymentStatus
from payments.sandbox.store import Store

log = structlog.get_logger(__name__)

SUCCEEDING_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
DISPUTED_CARD = "4000000000000259"
DECLINED = "Your card was declined."
INVALID_NUMBER = "Your card number is invalid."
MISSING_PROMOTION_CODE = "Enter a promotion code."

ScriptedOutcome = Literal["paid", "free", "async_succeed", "async_fail"]
SCRIPTED_OUTCOMES: tuple[ScriptedOutcome, ...] = ("paid", "free", "async_succeed", "async_fail")


class PaymentRefused(Exception):
    """The attempt did not go through and the session stays open; the message is for the buyer."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class SessionClosed(Exception):
    """The session is no longer open (paid, expired, or completed by a concurrent request)."""


class Buyer:
    """Finishes Checkout Sessions the way a buyer would; every outcome records its events."""

    def __init__(
        self,
        store: Store,
        *,
        background: BackgroundLoop,
        pending: Pending,
        free_payment_status: FreePaymentStatus,
        settle_seconds: float,
    ) -> None:
        if settle_seconds < 0:
            raise ValueError(f"async_settle_seconds must be >= 0, got {settle_seconds}")
        self.free_payment_status: FreePaymentStatus = free_payment_status
        self._store = store
        self._background = background
        self._pending = pending
        self._settle_seconds = settle_seconds

    def pay_by_card(self, session_id: str, card_number: str) -> dict[str, Any]:
        """Pay with a test card (spaces allowed); a refused card leaves no trace."""
        self.require_open(session_id)
        digits = card_number.replace(" ", "")
        if digits == DECLINED_CARD:
            raise PaymentRefused(DECLINED, status=402)
        if digits == DISPUTED_CARD:
            with self._store.lock:  # no one sees the payment before its dispute
                session = self._complete(session_id, "paid")
                disputes.open_dispute(self._store, session["payment_intent"], reason="fraudulent")
                return session
        if digits != SUCCEEDING_CARD:
            raise PaymentRefused(INVALID_NUMBER, status=400)
        return self._complete(session_id, "paid")

    def redeem_promotion(self, session_id: str, code: str) -> dict[str, Any]:
        """Any non-empty code is a 100% promotion code: the order becomes free.

        Only where the session was created with `allow_promotion_codes`, as on Stripe.
        """
        self.check_promotion(session_id, code)
        try:  # the session may have changed since the check; `complete` decides under its lock
            return self._complete(session_id, "free")
        except checkout.PromotionCodesNotAllowed as refused:
            raise PaymentRefused(str(refused), status=400) from None

    def pay_later(self, session_id: str, *, succeeds: bool) -> dict[str, Any]:
        """Pay by bank debit: completed but unpaid now, settled on the background loop later."""
        session = self._complete(session_id, "async")
        generation = self._pending.add()
        self._background.call_later(
            self._settle_seconds, self._settle, session_id, succeeds, generation
        )
        return session

    def check_promotion(self, session_id: str, code: str) -> None:
        """What applying a code checks before the page shows its discount; changes nothing."""
        self.require_open(session_id)
        if not code.strip():
            raise PaymentRefused(MISSING_PROMOTION_CODE, status=400)
        with self._store.lock:
            stored = self._store.lookup(session_id)
            allowed = stored is not None and stored.obj.get("allow_promotion_codes") is True
        if not allowed:
            raise PaymentRefused(checkout.PROMOTION_CODES_NOT_ALLOWED, status=400)

    def finish(self, session_id: str, outcome: ScriptedOutcome) -> dict[str, Any]:
        """What a script asks for by name: the same as pressing that button with valid input."""
        if outcome == "paid":
            return self.pay_by_card(session_id, SUCCEEDING_CARD)
        if outcome == "free":
            return self.redeem_promotion(session_id, "SANDBOX100")
        if outcome in ("async_succeed", "async_fail"):
            return self.pay_later(session_id, succeeds=outcome == "async_succeed")
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {SCRIPTED_OUTCOMES}")

    def require_open(self, session_id: str) -> None:
        """KeyError for an unknown session, SessionClosed unless it is open."""
        with self._store.lock:
            stored = self._store.lookup(session_id)
            if stored is None or stored.obj["object"] != "checkout.session":
                raise KeyError(session_id)
            if stored.obj["status"] != "open":
                raise SessionClosed(session_id)

    def _complete(self, session_id: str, outcome: checkout.Outcome) -> dict[str, Any]:
        with self._store.lock:
            # Checked and completed under one lock hold: a double submit completes once.
            self.require_open(session_id)
            session = checkout.complete(self._store, session_id, outcome, self.free_payment_status)
            return copy.deepcopy(session)

    def _settle(self, session_id: str, succeeds: bool, generation: int) -> None:
        try:
            if not self._pending.is_current(generation):
                return
            if succeeds:
                checkout.succeed_async(self._store, session_id)
            else:
                checkout.fail_async(self._store, session_id)
        except (KeyError, ValueError) as error:
            # Settled by hand in the meantime, or the sandbox was reset: nothing left to do.
            log.info("sandbox.settle_skipped", session_id=session_id, reason=str(error))
        finally:
            self._pending.done(generation)
