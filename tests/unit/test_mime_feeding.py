"""Messages are parsed a piece at a time (no whole-message string and StringIO): the same tree as the
standard library's BytesParser, wherever the pieces are cut."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainmail.mail import mime

lines = st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF, exclude_characters="\r\n"), max_size=90)


def _message(parts: list[list[str]], boundary: str) -> bytes:
    head = (
        "From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\npreamble\r\n"
    )
    part_head = f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    body = "".join(part_head + "\r\n".join(p) + "\r\n" for p in parts)
    return (head + body + f"--{boundary}--\r\nepilogue\r\n").encode("utf-8", "surrogatepass")


@given(parts=st.lists(st.lists(lines, max_size=6), min_size=1, max_size=4), piece=st.integers(1, 64))
def test_a_message_fed_in_pieces_parses_as_the_whole(parts: list[list[str]], piece: int) -> None:
    raw = _message(parts, "b0und4ry")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mime, "FEED_BYTES", piece)
        fed = mime.parse_bytes(raw)
    whole = BytesParser(policy=policy.compat32).parsebytes(raw)

    assert fed.as_bytes() == whole.as_bytes()
    assert [p.get_payload(decode=True) for p in fed.walk()] == [p.get_payload(decode=True) for p in whole.walk()]
    assert (
        mime.parse_bytes(raw, headers_only=True).get_payload()
        == BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True).get_payload()
    )
