"""JSON columns are read with orjson where it gives exactly what the standard decoder gives, and with the
standard decoder where it would not (integers beyond 64 bits, NaN, infinities, lone surrogates)."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from chainmail.store.json_values import load_json_column

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_what_is_read_equals_what_the_standard_decoder_reads(value: object) -> None:
    text = json.dumps(value)
    assert load_json_column(text) == json.loads(text)
    assert load_json_column(text.encode()) == json.loads(text)


def test_big_integers_keep_every_digit_and_what_orjson_refuses_is_still_read() -> None:
    assert load_json_column('{"amount": 115792089237316195423570985008687907853269984665640564039457}') == {
        "amount": 115792089237316195423570985008687907853269984665640564039457
    }
    assert load_json_column("18446744073709551616") == 2**64
    assert math.isnan(load_json_column("[NaN]")[0])
    assert load_json_column("1e400") == math.inf
    assert load_json_column('"\\ud800"') == "\ud800"
