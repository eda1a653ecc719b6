"""HTML for the hosted checkout page: rendered on the server, no scripts, stable element ids.

Everything that comes from the merchant's session (names, emails, URLs) or from
the request is escaped on the way in; URLs become links only if http(s), since a
`javascript:` cancel_url would otherwise run in the buyer's page.

A promotion code is applied in two steps, as on Stripe's page: Apply shows the
discount and the new total ($0.00: every sandbox code takes 100% off) and asks
the buyer to confirm; only Confirm completes the session. The code field shows
only when the session allows promotion codes (`allow_promotion_codes`).

Browser tests find elements by id, so the ids are part of the API: on every page
#sandbox-banner; on the form #line-items, #total, #customer-email, #error,
#checkout-form, #card-number, #pay, #async-succeed, #async-fail, #chaos (a
<details>), #chaos-delay, #chaos-duplicate, #chaos-reorder, #chaos-never,
#chaos-fail-first, #cancel; when the session allows promotion codes #promo-form,
#promo-code, #apply-promo; once a code is applied #discount (its line in
#line-items), #promo-applied, #confirm-promo and #remove-promo instead of the card,
bank debit and code fields; otherwise #closed (with #return) or #not-found.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

from payments.sandbox.chaos import Chaos
from payments.sandbox.money import format_amount
from payments.sandbox.store import LineItem

PREFILLED_CARD = "4242 4242 4242 4242"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f6f8fa;color:#1a1f36}
#sandbox-banner{background:#ffd60a;color:#000;font-weight:700;text-align:center;padding:.6rem}
main{max-width:32rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:8px;
box-shadow:0 1px 3px rgba(0,0,0,.15)}
table{width:100%;border-collapse:collapse}td,th{padding:.3rem 0;text-align:left}
.amount,#total{text-align:right}tfoot th,tfoot td{border-top:1px solid #ddd;font-weight:700}
fieldset{border:1px solid #ddd;border-radius:6px;margin:1rem 0}
input{padding:.4rem;font-size:1rem}button{padding:.45rem .9rem;font-size:1rem;margin:.2rem 0}
#promo-applied{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:0 1rem 1rem}
#promo-applied h2{font-size:1.1rem}#confirm-promo{font-weight:700}
#error{color:#b00020;font-weight:600}.hint{color:#697386;font-size:.85rem}
details label{display:block;margin:.3rem 0}
"""


@dataclass(frozen=True)
class PageView:
    """What the page shows: a copy of the session, its line items, its effective chaos."""

    session: dict[str, Any]
    line_items: tuple[LineItem, ...]
    chaos: Chaos


def checkout_form(
    view: PageView,
    *,
    error: str | None = None,
    card_number: str = PREFILLED_CARD,
    promo_code: str = "",
    promo_applied: bool = False,
) -> str:
    """The open session's form; with `promo_applied`, the discounted total and a confirm button."""
    session = view.session
    currency = session["currency"]
    discount = session["amount_subtotal"] if promo_applied else 0
    total = format_amount(session["amount_total"] - discount, currency)
    error_html = f'<p id="error" role="alert">{escape(error)}</p>' if error else ""
    email = session["customer_email"]
    email_html = (
        f'<p>Paying as <span id="customer-email">{escape(email)}</span></p>' if email else ""
    )
    cancel_href = _http_url(session["cancel_url"])
    cancel_html = (
        f'<p><a id="cancel" href="{escape(cancel_href)}">Cancel and return to the shop</a></p>'
        if cancel_href
        else ""
    )
    if promo_applied:
        choices = _confirm_promotion(promo_code, total)
        promo_html = ""
    else:
        choices = _payment_methods(card_number, total)
        promo_html = (
            _promotion_form(session["id"], promo_code) if session["allow_promotion_codes"] else ""
        )
    body = f"""
<main>
<h1>Checkout</h1>
{_summary(view, total, promo_code if promo_applied else None, discount)}
{email_html}
{error_html}
<form id="checkout-form" method="post" action="/c/pay/{escape(session["id"])}">
<input type="hidden" name="chaos" value="1">
{choices}
{_chaos_panel(view.chaos)}
</form>
{promo_html}
{cancel_html}
</main>"""
    return _document("Sandbox checkout", body)


def _payment_methods(card_number: str, total: str) -> str:
    return f"""<fieldset><legend>Card</legend>
<label for="card-number">Card number</label>
<input id="card-number" name="card_number" value="{escape(card_number)}" inputmode="numeric"
 autocomplete="off" size="24">
<button id="pay" type="submit" name="action" value="pay">Pay {escape(total)}</button>
<p class="hint">4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined;
4000 0000 0000 0259 succeeds, then is disputed as fraudulent.</p>
</fieldset>
<fieldset><legend>Bank debit</legend>
<button id="async-succeed" type="submit" name="action" value="async_succeed">
Bank debit (succeeds later)</button>
<button id="async-fail" type="submit" name="action" value="async_fail">
Bank debit (fails later)</button>
</fieldset>"""


def _promotion_form(session_id: str, promo_code: str) -> str:
    """Its own form, so Enter in the code field applies the code instead of paying by card."""
    return f"""<form id="promo-form" method="post" action="/c/pay/{escape(session_id)}">
<fieldset><legend>Promotion code</legend>
<label for="promo-code">Code</label>
<input id="promo-code" name="promo_code" value="{escape(promo_code)}" autocomplete="off">
<button id="apply-promo" type="submit" name="action" value="promo">Apply</button>
<p class="hint">Any code takes 100% off (e.g. FREE100).</p>
</fieldset>
</form>"""


def _confirm_promotion(promo_code: str, total: str) -> str:
    return f"""<section id="promo-applied" aria-labelledby="promo-applied-title">
<h2 id="promo-applied-title">Promotion code applied</h2>
<p>{escape(promo_code)} covers the whole order: you pay {escape(total)}, no card needed.</p>
<input type="hidden" name="promo_code" value="{escape(promo_code)}">
<button id="confirm-promo" type="submit" name="action" value="confirm_promo">
Confirm order ({escape(total)})</button>
<button id="remove-promo" class="secondary" type="submit" name="action" value="remove_promo">
Remove code</button>
</section>"""


def closed(session: dict[str, Any]) -> str:
    """The page for a session that can no longer be paid, with the way back to the shop."""
    status, payment_status = session["status"], session["payment_status"]
    if status == "expired":
        message = "This checkout session has expired."
        back = _http_url(session["cancel_url"])
    else:
        message = {
            "paid": "This checkout session has already been paid.",
            "unpaid": "This checkout session is complete; its payment is still processing.",
        }.get(payment_status, "This checkout session is complete.")
        back = _http_url(success_url(session))
    back_html = (
        f'<p><a id="return" href="{escape(back)}">Return to the shop</a></p>' if back else ""
    )
    body = f"""
<main id="closed">
<h1>Checkout closed</h1>
<p>{escape(message)}</p>
{back_html}
</main>"""
    return _document("Checkout closed", body)


def not_found(session_id: str) -> str:
    body = f"""
<main id="not-found">
<h1>Checkout session not found</h1>
<p>This sandbox has no checkout session <code>{escape(session_id)}</code>.</p>
</main>"""
    return _document("Not found", body)


def success_url(session: dict[str, Any]) -> str:
    """Where Stripe sends the buyer after paying, with the template variable filled in."""
    url: str = session["success_url"]
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"])


def _summary(view: PageView, total: str, promo_code: str | None, applied_discount: int) -> str:
    rows = "\n".join(
        f'<tr class="line-item"><td class="name">{escape(item.name)}</td>'
        f'<td class="quantity">&times; {item.quantity}</td>'
        f'<td class="amount">{escape(format_amount(item.amount, item.currency))}</td></tr>'
        for item in view.line_items
    )
    session = view.session
    discount = applied_discount or session["total_details"]["amount_discount"]
    label = f"Discount ({escape(promo_code)})" if promo_code else "Discount"
    discount_row = (
        f'<tr id="discount"><td colspan="2">{label}</td><td class="amount">'
        f"{escape(format_amount(-discount, session['currency']))}</td></tr>"
        if discount
        else ""
    )
    return f"""<table id="line-items">
<tbody>
{rows}
{discount_row}
</tbody>
<tfoot><tr><th colspan="2">Total</th><td id="total">{escape(total)}</td></tr></tfoot>
</table>"""


def _chaos_panel(chaos: Chaos) -> str:
    def checked(flag: bool) -> str:
        return " checked" if flag else ""

    return f"""<details id="chaos"{" open" if chaos != Chaos() else ""}>
<summary>Chaos: how this session's webhooks misbehave</summary>
<label>Delay before the first attempt (seconds)
<input id="chaos-delay" name="chaos_delay" type="number" min="0" step="any"
 value="{chaos.delay:g}"></label>
<label><input id="chaos-duplicate" name="chaos_duplicate" type="checkbox" value="1"\
{checked(chaos.duplicate)}> Deliver every event twice</label>
<label><input id="chaos-reorder" name="chaos_reorder" type="checkbox" value="1"\
{checked(chaos.reorder)}> Deliver newest first</label>
<label><input id="chaos-never" name="chaos_never" type="checkbox" value="1"\
{checked(chaos.never)}> Never deliver</label>
<label>Fail the first attempts of each event
<input id="chaos-fail-first" name="chaos_fail_first" type="number" min="0" step="1"
 value="{chaos.fail_first}"></label>
</details>"""


def _http_url(url: str | None) -> str | None:
    if url is None:
        return None
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


def _document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<div id="sandbox-banner" role="note">SANDBOX — no real money</div>
{body}
</body>
</html>
"""
