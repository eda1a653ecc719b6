"""Request params for the sandbox tests, valid unless a test overrides a field."""

from typing import Any


def line_item(
    *, currency: str = "usd", unit_amount: int = 1500, quantity: int = 2, name: str = "Mug"
) -> dict[str, Any]:
    return {
        "price_data": {
            "currency": currency,
            "unit_amount": unit_amount,
            "product_data": {"name": name},
        },
        "quantity": quantity,
    }


def session_params(**overrides: Any) -> dict[str, Any]:
    """A payment-mode session for 2 x 15.00 USD; pass a field as None to leave it out."""
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [line_item()],
        "success_url": "https://shop.example/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/cancel",
        "customer_email": "buyer@example.com",
        "client_reference_id": "order-42",
        "metadata": {"order_id": "order-42"},
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}
