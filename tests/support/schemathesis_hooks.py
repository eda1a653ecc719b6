"""Schemathesis hooks for tests/test_openapi_fuzz.py (loaded by the `schemathesis` CLI).

Two things the schema cannot say, so the fuzzer can get past them:
- a webhook is accepted only with Stripe's signature of its exact body: sign what
  schemathesis is about to send, as Stripe would, whenever the case carries a
  `Stripe-Signature` header (a case that leaves the header out stays unsigned);
- product and seller ids must exist: valid carts and products use the ones the
  test created (`FUZZ_PRODUCT_ID`, `FUZZ_SELLER_ID`), so they reach Stripe.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import schemathesis

from payments.sandbox.stripe_server import sign_payload

SIGNATURE = "Stripe-Signature"


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: Any) -> None:
    path = case.operation.path
    if path.startswith("/webhooks/"):
        _sign(case, connect=path.endswith("/connect"))
    elif case.meta is not None and case.meta.generation.mode.is_positive:
        _use_the_catalog(case, path)


def _sign(case: schemathesis.Case, *, connect: bool) -> None:
    headers = case.headers or {}
    if SIGNATURE not in headers or isinstance(case.body, bytes):
        return
    try:  # exactly what the requests transport sends for a JSON body
        body = json.dumps(case.body, allow_nan=False).encode()
    except (TypeError, ValueError):
        return  # not JSON at all: the service must refuse it whatever the signature
    secret = os.environ["FUZZ_CONNECT_SECRET" if connect else "FUZZ_WEBHOOK_SECRET"]
    headers[SIGNATURE] = sign_payload(body, secret, int(time.time()))


def _use_the_catalog(case: schemathesis.Case, path: str) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    if path == "/checkout/sessions" and isinstance(body.get("items"), list):
        for item in body["items"]:
            if isinstance(item, dict) and "product_id" in item:
                item["product_id"] = os.environ["FUZZ_PRODUCT_ID"]
    elif path == "/admin/products" and isinstance(body.get("seller_id"), str):
        body["seller_id"] = os.environ["FUZZ_SELLER_ID"]
