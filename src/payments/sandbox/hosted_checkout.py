"""The hosted checkout page at a session's `url`: GET shows it, POST is the buyer's choice.

No API key: like Stripe's page it belongs to the buyer, and knowing the session id
is what grants access. A successful choice answers 303 to the session's
`success_url`; a refused one re-renders the form with `#error`; a session that is
no longer open gets the `#closed` page. Applying a promotion code only shows the
discounted total (200) with a confirm button; confirming completes the session.
The chaos panel's values are stored for the session before the choice is acted
on, so they apply to the events it causes.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from payments.sandbox import checkout_page
from payments.sandbox.buyer import Buyer, PaymentRefused, SessionClosed
from payments.sandbox.chaos import Chaos, ChaosSettings
from payments.sandbox.checkout_page import PageView
from payments.sandbox.store import Store

NO_STORE = {"Cache-Control": "no-store"}
UNKNOWN_ACTION = "Choose a way to pay."


class HostedCheckout:
    def __init__(self, store: Store, buyer: Buyer, chaos: ChaosSettings) -> None:
        self._store = store
        self._buyer = buyer
        self._chaos = chaos

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/c/pay/{session_id}", self.show, methods=["GET"]),
            Route("/c/pay/{session_id}", self.submit, methods=["POST"]),
        ]

    async def show(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        view = self._view(session_id)
        if view is None:
            return _html(checkout_page.not_found(session_id), 404)
        if view.session["status"] != "open":
            return _html(checkout_page.closed(view.session), 200)
        return _html(checkout_page.checkout_form(view), 200)

    async def submit(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        body = (await request.body()).decode("utf-8", errors="replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        card_number = form.get("card_number", checkout_page.PREFILLED_CARD)
        promo_code = form.get("promo_code", "")
        try:
            self._buyer.require_open(session_id)
            if form.get("chaos"):
                self._chaos.set(_chaos_from_form(form), session_id)
            action = form.get("action", "")
            if action in ("promo", "remove_promo"):
                applying = action == "promo"
                return self._preview(session_id, applying, promo_code if applying else "")
            session = self._act(session_id, action, card_number, promo_code)
        except KeyError:
            return _html(checkout_page.not_found(session_id), 404)
        except SessionClosed:
            return self._closed(session_id)
        except PaymentRefused as refused:
            return self._form(session_id, refused.message, refused.status, card_number, promo_code)
        except ValueError as invalid:  # a chaos value the buyer typed
            return self._form(session_id, str(invalid), 400, card_number, promo_code)
        return RedirectResponse(checkout_page.success_url(session), status_code=303)

    def _act(
        self, session_id: str, action: str, card_number: str, promo_code: str
    ) -> dict[str, Any]:
        if action == "pay":
            return self._buyer.pay_by_card(session_id, card_number)
        if action == "confirm_promo":
            return self._buyer.redeem_promotion(session_id, promo_code)
        if action in ("async_succeed", "async_fail"):
            return self._buyer.pay_later(session_id, succeeds=action == "async_succeed")
        self._buyer.require_open(session_id)
        raise PaymentRefused(UNKNOWN_ACTION, status=400)

    def _preview(self, session_id: str, apply: bool, promo_code: str) -> Response:
        """Show the discount of a valid code and ask to confirm, or the form without it."""
        if apply:
            self._buyer.check_promotion(session_id, promo_code)
        else:
            self._buyer.require_open(session_id)
        view = self._view(session_id)
        if view is None:
            return _html(checkout_page.not_found(session_id), 404)
        page = checkout_page.checkout_form(view, promo_code=promo_code, promo_applied=apply)
        return _html(page, 200)

    def _form(
        self, session_id: str, error: str, status: int, card_number: str, promo_code: str
    ) -> Response:
        view = self._view(session_id)
        if view is None:
            return _html(checkout_page.not_found(session_id), 404)
        page = checkout_page.checkout_form(
            view, error=error, card_number=card_number, promo_code=promo_code
        )
        return _html(page, status)

    def _closed(self, session_id: str) -> Response:
        view = self._view(session_id)
        if view is None:
            return _html(checkout_page.not_found(session_id), 404)
        return _html(checkout_page.closed(view.session), 409)

    def _view(self, session_id: str) -> PageView | None:
        with self._store.lock:
            stored = self._store.lookup(session_id)
            if stored is None or stored.obj["object"] != "checkout.session":
                return None
            session = copy.deepcopy(stored.obj)
            line_items = self._store.plan(session_id).line_items
        return PageView(session, line_items, self._chaos.for_session(session_id))


def _chaos_from_form(form: dict[str, str]) -> Chaos:
    """The panel's fields; unchecked boxes are absent and empty numbers mean zero."""
    delay_text = form.get("chaos_delay", "").strip() or "0"
    fail_first_text = form.get("chaos_fail_first", "").strip() or "0"
    try:
        delay = float(delay_text)
    except ValueError:
        raise ValueError(f"Chaos delay must be a number of seconds, not {delay_text!r}.") from None
    try:
        fail_first = int(fail_first_text)
    except ValueError:
        raise ValueError(
            f"Chaos fail-first must be a whole number, not {fail_first_text!r}."
        ) from None
    return Chaos(
        delay=delay,
        duplicate="chaos_duplicate" in form,
        reorder="chaos_reorder" in form,
        never="chaos_never" in form,
        fail_first=fail_first,
    )


def _html(page: str, status: int) -> HTMLResponse:
    return HTMLResponse(page, status_code=status, headers=NO_STORE)
