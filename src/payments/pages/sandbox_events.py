"""The list on `/sandbox/events`: each delivery the demo shop received, newest first.

Everything in it came from a request (an unverified one from anybody), so every value is
escaped. Nothing secret is shown: no secret, no signature, no body.
"""

from __future__ import annotations

from html import escape

from payments.demo_shop.inbox import Received
from payments.demo_shop.registration import DemoShop
from payments.timestamps import FORMAT

EMPTY = (
    'Nothing yet. <a href="/">Buy something on the storefront</a> and pay with '
    "4242 4242 4242 4242; then reload this page: the order's <code>order.paid</code> "
    "event is here, signature verified."
)


def events_html(shop: DemoShop) -> str:
    if shop.not_registered is not None:
        return f'<p id="events-empty" class="note">{escape(shop.not_registered)}</p>'
    received = shop.inbox.newest_first()
    if not received:
        return f'<p id="events-empty" class="note">{EMPTY}</p>'
    items = "\n".join(_item(delivery) for delivery in received)
    return f'<ol id="events" class="events" aria-label="Events received">\n{items}\n</ol>'


def _item(delivery: Received) -> str:
    verified = "yes" if delivery.verified else "no"
    when = delivery.received_at.strftime(FORMAT)
    shown = delivery.received_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"""<li class="event" data-verified="{verified}">
<h2>{_code(delivery.type, "no type")}</h2>
<dl>
<dt>Received</dt><dd><time datetime="{when}">{shown}</time></dd>
<dt>Webhook ID</dt><dd class="webhook-id">{_code(delivery.webhook_id, "none")}</dd>
<dt>Order</dt><dd class="order-id">{_code(delivery.order_id, "none")}</dd>
<dt>Status</dt><dd class="status-value">{escape(delivery.status or "none")}</dd>
<dt>Signature verified</dt><dd class="verified verified-{verified}">{_verdict(delivery)}</dd>
</dl>
</li>"""


def _code(value: str | None, missing: str) -> str:
    return f"<code>{escape(value)}</code>" if value else escape(missing)


def _verdict(delivery: Received) -> str:
    if delivery.verified:
        return "Yes"
    return "No: not signed with the shop's secret (answered 400, so it is sent again)"
