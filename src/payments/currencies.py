"""The currencies a product can be priced in, from ISO 4217's own table.

The table comes from the `iso4217` package (the standard's published list, refreshed
with each amendment). A code counts if ISO gives it a minor unit, since amounts here
are integers of minor units: that leaves out the codes that are not money one can
charge (XXX "no currency", XTS "testing", gold and other metals, SDR, bond units),
and fund codes (USN, CLF, ...) are left out too. Whether Stripe takes a currency for
a given account is Stripe's to say at checkout.
"""

from __future__ import annotations

from typing import Any

import iso4217
from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from payments.inputs import TextRule


def _fund_codes() -> frozenset[str]:
    """Codes ISO marks `IsFund` (e.g. USN, US dollar next day): units of account, not cash."""
    return frozenset(
        entry.findtext("Ccy", "")
        for entry in iso4217.raw_xml.iter("CcyNtry")
        if (name := entry.find("CcyNm")) is not None and name.get("IsFund") == "true"
    )


CODES: frozenset[str] = frozenset(
    currency.code.lower()
    for currency in iso4217.Currency
    if currency.exponent is not None and currency.code not in _fund_codes()
)


class CurrencyCode(TextRule):
    """A code from CODES, written in lower or upper case (`usd`, `USD`), as an enum in the
    schema so that clients and fuzzers see exactly what is accepted."""

    def schema_pattern(self) -> str:
        return "^(?:[a-z]{3}|[A-Z]{3})$"

    def check(self, value: str) -> str:
        if value.lower() not in CODES or not (value.islower() or value.isupper()):
            raise PydanticCustomError(
                "currency",
                "must be the ISO 4217 code of a currency, in lower or upper case, such as usd",
            )
        return value

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema: dict[str, Any] = super().__get_pydantic_json_schema__(schema, handler)
        json_schema["enum"] = [*sorted(CODES), *sorted(code.upper() for code in CODES)]
        return json_schema


CURRENCY_CODE = CurrencyCode()
