"""Bracket-notation decoding, checked against what stripe-python actually encodes."""

from urllib.parse import urlencode

from stripe._encode import _api_encode

from payments.sandbox.forms import parse_form


def _encoded_by_sdk(params: dict) -> str:
    return urlencode(list(_api_encode(params)))


def test_nested_dicts_and_indexed_arrays_round_trip_from_the_sdk_encoding():
    """What the SDK encodes (brackets, indexed arrays, booleans) decodes to the same shape."""
    params = {
        "mode": "payment",
        "line_items": [
            {"price_data": {"currency": "usd", "unit_amount": 1500}, "quantity": 2},
            {"price_data": {"currency": "usd", "unit_amount": 100}, "quantity": 1},
        ],
        "metadata": {"order_id": "o-1", "note": "a&b=c [x]"},
        "expand": ["payment_intent", "payment_intent.latest_charge"],
        "refund_application_fee": True,
    }

    decoded = parse_form(_encoded_by_sdk(params))

    assert decoded == {
        "mode": "payment",
        "line_items": [
            {"price_data": {"currency": "usd", "unit_amount": "1500"}, "quantity": "2"},
            {"price_data": {"currency": "usd", "unit_amount": "100"}, "quantity": "1"},
        ],
        "metadata": {"order_id": "o-1", "note": "a&b=c [x]"},
        "expand": ["payment_intent", "payment_intent.latest_charge"],
        "refund_application_fee": "true",
    }


def test_empty_brackets_append_and_indexes_order_the_array():
    """`x[]=` appends like PHP/Rails clients send; `x[N]` is ordered by N, not by arrival."""
    assert parse_form("expand[]=a&expand[]=b") == {"expand": ["a", "b"]}
    assert parse_form("types[1]=second&types[0]=first") == {"types": ["first", "second"]}
    assert parse_form("items[][price]=p1&items[][price]=p2") == {
        "items": [{"price": "p1"}, {"price": "p2"}]
    }


def test_blank_values_are_kept_because_they_unset_metadata():
    """`metadata[a]=` and `metadata=` are how Stripe clients unset metadata."""
    assert parse_form("metadata[a]=&description=") == {"metadata": {"a": ""}, "description": ""}


def test_malformed_and_conflicting_keys_do_not_fail_the_request():
    """An unbalanced key stays literal and the later of two conflicting keys wins."""
    assert parse_form("a[b=1") == {"a[b": "1"}
    assert parse_form("a=1&a[b]=2") == {"a": {"b": "2"}}
