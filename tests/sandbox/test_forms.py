"""Bracket-notation decoding, checked against what stripe-python actually encodes."""

from urllib.parse import urlencode

import pytest
from stripe._encode import _api_encode

from payments.sandbox.errors import ApiError
from payments.sandbox.forms import MAX_DEPTH, parse_form


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


def test_a_key_nested_deeper_than_any_stripe_parameter_is_a_400():
    """`metadata[a][a]...` a thousand levels deep is Stripe's invalid_request_error, not a crash."""
    with pytest.raises(ApiError) as refused:
        parse_form("metadata" + "[a]" * 1000 + "=1")

    assert refused.value.status == 400
    assert refused.value.error_type == "invalid_request_error"
    assert refused.value.param == "metadata"
    assert f"nested more than {MAX_DEPTH} levels deep" in refused.value.message


def test_keys_up_to_the_depth_limit_decode():
    """The limit is far above what the SDK sends; a key exactly that deep still decodes."""
    decoded = parse_form("m" + "[a]" * (MAX_DEPTH - 1) + "=1")

    node = decoded["m"]
    for _ in range(MAX_DEPTH - 2):
        node = node["a"]
    assert node == {"a": "1"}
