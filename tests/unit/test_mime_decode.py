"""Header values as a mail client reads them: encoded words decoded, 8-bit bytes read as UTF-8, folds joined."""

from __future__ import annotations

import base64
import binascii
import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header

from hypothesis import given, settings
from hypothesis import strategies as st

from chainmail.mail.mime import decode_words, parse_message

HEADER_CHARACTERS = st.sampled_from(
    [*"ab Z09=?QB_\"'<>@,;:()\\\t\r\n", "\udc80", "\udcc3", "\udca9", "\udcff", "é", "\x00", "\u2028"]
)


def through_the_email_package(value: str) -> str:
    """Every value through the email package's decoder (what it cannot decode left as written), as
    decode_words read every value before it skipped those without "=?"."""
    try:
        decoded = str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, binascii.Error, AssertionError, HeaderParseError):
        decoded = value
    if any("\udc80" <= ch <= "\udcff" for ch in decoded):
        raw = decoded.encode("utf-8", "surrogateescape")
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = raw.decode("latin-1")
    return re.sub(r"[\r\n]+\s*", " ", decoded).strip()


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.text(HEADER_CHARACTERS, max_size=40), st.text(max_size=40)))
def test_a_header_value_reads_as_the_email_package_decodes_it(value: str) -> None:
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return  # 8-bit bytes: the next test
    if "=?" in value and not value.isascii():
        return  # the email package gives up on encoded words beside non-ASCII text: the test below
    assert decode_words(value) == through_the_email_package(value)


WORD = st.text(max_size=6).filter(lambda word: "#" not in word and "é" not in word)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(st.text(HEADER_CHARACTERS.filter(str.isascii), max_size=8), WORD), max_size=4))
def test_encoded_words_beside_non_ascii_text_decode_as_beside_ascii_text(pieces: list[tuple[str, str]]) -> None:
    """An encoded word reads the same whether the text around it is ASCII or not (the email package gives up
    on the second): "#" before each piece of text, or "é", and the answers differ by that character alone."""
    words = [f"=?utf-8?b?{base64.b64encode(word.encode('utf-8', 'surrogatepass')).decode()}?=" for _, word in pieces]
    plain = " ".join(f"#{text} {word}" for (text, _), word in zip(pieces, words, strict=True))
    accented = plain.replace("#", "é")
    assert decode_words(accented) == decode_words(plain).replace("#", "é")


@settings(max_examples=1000, deadline=None)
@given(st.text(HEADER_CHARACTERS.filter(lambda ch: not "\udc80" <= ch <= "\udcff"), max_size=40))
def test_a_header_in_raw_utf8_reads_as_the_same_text_in_ascii_would(value: str) -> None:
    """RFC 6532: the parser hands 8-bit bytes over as surrogate escapes; they read as the text they encode."""
    eight_bit = value.encode("utf-8", "surrogatepass").decode("ascii", "surrogateescape")
    readable = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    assert decode_words(eight_bit) == decode_words(readable)


def test_encoded_words_8bit_bytes_and_folds_are_read_as_a_client_shows_them() -> None:
    raw = (
        b"From: =?utf-8?B?SsO8cmdlbiBNw7xsbGVy?= <jurgen@example.org>\r\n"
        b"To: \xc3\x89lodie <elodie@example.com>, =?iso-8859-1?q?Andr=E9?= <andre@example.com>\r\n"
        b"Subject: a long subject\r\n  folded =?utf-8?q?=C3=A0_la_ligne?=\r\n"
        b"X-Latin: caf\xe9\r\n"
        b"\r\n"
        b"body\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.from_ == [{"name": "Jürgen Müller", "address": "jurgen@example.org"}]
    assert parsed.to == [
        {"name": "Élodie", "address": "elodie@example.com"},
        {"name": "André", "address": "andre@example.com"},
    ]
    assert parsed.subject == "a long subject folded à la ligne"
    assert dict(parsed.headers)["x-latin"] == "café"
    assert parsed.cc == [] and parsed.reply_to == []
