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
    unescaped = json.dumps(value, ensure_ascii=False)  # as PostgreSQL and SQLite give text back
    assert load_json_column(unescaped) == json.loads(unescaped)
    assert load_json_column(unescaped.encode("utf-8", "surrogatepass")) == json.loads(unescaped)


def test_big_integers_keep_every_digit_and_what_orjson_refuses_is_still_read() -> None:
    assert load_json_column('{"amount": 115792089237316195423570985008687907853269984665640564039457}') == {
        "amount": 115792089237316195423570985008687907853269984665640564039457
    }
    assert load_json_column("18446744073709551616") == 2**64
    assert math.isnan(load_json_column("[NaN]")[0])
    assert load_json_column("1e400") == math.inf
    assert load_json_column('"\\ud800"') == "\ud800"


def test_integers_beyond_64_bits_keep_every_digit_wherever_they_are() -> None:
    big = -(2**70)
    assert load_json_column(f'[{big}, "x"]') == [big, "x"]
    assert load_json_column(f'{{"k": [1.5, {2**64 + 1}]}}'.encode()) == {"k": [1.5, 2**64 + 1]}
    arabic = "\u0663" * 40  # digits, but not JSON's
    assert load_json_column(f'["{arabic}", {2**63 - 1}, {2**64 - 1}]') == [arabic, 2**63 - 1, 2**64 - 1]


def test_a_big_integer_is_found_after_anything_that_may_precede_a_number_and_digits_in_strings_are_text() -> None:
    big = 2**64 + 7
    for text in (f"{big}", f"-{big}", f"[1,{big}]", f'{{"k":\n\t {big}}}', f'{{"k": [ -{big} ]}}'):
        assert load_json_column(text) == json.loads(text), text
    msgid = '{"messageId": "<179661657556.18923.11248083461101247387@example.com>", "n": 18446744073709551615}'
    assert load_json_column(msgid) == json.loads(msgid)
    assert load_json_column('["a:123456789012345678901234", "x-123456789012345678901234"]') == [
        "a:123456789012345678901234",
        "x-123456789012345678901234",
    ]
