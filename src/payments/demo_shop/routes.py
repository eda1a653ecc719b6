"""`POST /sandbox/shop/webhooks`: where the demo shop's endpoint receives its events.

Not part of the service's API (it is the shop's backend, played by the sandbox), so it
is left out of the schema; outside sandbox mode it is a 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from payments.demo_shop import receiver
from payments.demo_shop.registration import RECEIVER_PATH
from payments.deps import DatabaseDep, DemoShopDep
from payments.errors import InvalidWebhook, NotFound, responses

router = APIRouter(include_in_schema=False)


@router.post(RECEIVER_PATH, status_code=204, responses=responses(InvalidWebhook, NotFound))
async def receive_event(request: Request, shop: DemoShopDep, database: DatabaseDep) -> Response:
    """204 for a delivery signed with the shop's secret; 400 for any other, which the
    sender then retries. Both are kept for `/sandbox/events`."""
    received = await receiver.receive(shop, database, await request.body(), request.headers)
    if not received.verified:
        raise InvalidWebhook("the signature does not verify with the demo shop's secret")
    return Response(status_code=204)
