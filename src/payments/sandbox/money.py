"""Showing amounts: integer minor units plus a currency, formatted without floats.

Stripe amounts are in the currency's smallest unit; how many of those make one
major unit depends on the currency (1 for JPY, 100 for USD, 1000 for KWD).
"""

from __future__ import annotations

# Currencies whose minor unit is the major unit, so amounts print without decimals.
# fmt: off
ZERO_DECIMAL = frozenset({
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga",
    "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
})
# fmt: on
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}


def decimals(currency: str) -> int:
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def format_amount(amount: int, currency: str) -> str:
    """`3000, "usd"` -> `$30.00`; `1500, "jpy"` -> `¥1,500`; `1234, "chf"` -> `12.34 CHF`."""
    places = decimals(currency)
    major, minor = divmod(abs(amount), 10**places)
    number = f"{major:,}" + (f".{minor:0{places}d}" if places else "")
    sign = "-" if amount < 0 else ""
    symbol = _SYMBOLS.get(currency.lower())
    if symbol is not None:
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {currency.upper()}"
