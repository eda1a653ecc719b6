"""The sandbox's Stripe-compatible server in a process of its own, for the checkout part.

    python -m bench.sandbox_stripe --port 12111

`payments serve` is pointed at it with STRIPE_API_BASE, so `POST /checkout/sessions`
makes real Stripe SDK calls over HTTP to another process, as it would to Stripe.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from bench.events import SECRETS
from payments.sandbox.stripe_server import FakeStripe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_stripe", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    fake = FakeStripe(webhook_secret=SECRETS.platform, connect_webhook_secret=SECRETS.connect)
    uvicorn.run(
        fake.app,
        host="127.0.0.1",
        port=args.port,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
