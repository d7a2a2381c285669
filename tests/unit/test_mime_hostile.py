"""Whatever arrives by SMTP or upload parses: headers and bodies built from the fragments that broke the
email package before (encoded words with broken base64 or unknown charsets, RFC 2231 parameters, 8-bit
bytes, impossible dates, boundaries that never close) give a parsed message, never an exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainmail.mail.mime import parse_message
from chainmail.mail.store import thread_keys

FRAGMENTS = [
    *[b"=?utf-8?B?A?=", b"=?utf-8?b?w6k=?=", b"=?x-unknown?q?a?=", b"=?utf-8?q?=ZZ?=", b"=?unknown-8bit?q?=E9?="],
    *[b"=??q?a?=", b"=?utf-8*fr?q?a?=", b"=?utf-8?x?a?=", b"\xc3\xa9", b"\xff", b"\xe9", b" ", b"\t", b"\r\n "],
    *[b"<", b">", b"@", b",", b";", b":", b'"', b"(", b")", b"\\", b"a", b"example.org", b"%ff", b"''", b"*", b"="],
    b"\x00",
]
NAMES = [b"From", b"To", b"Cc", b"Reply-To", b"Sender", b"Subject", b"Message-ID", b"References", b"In-Reply-To"]
NAMES += [b"Content-Type", b"Content-Disposition", b"Content-Transfer-Encoding", b"Content-ID", b"List-ID", b"X-Any"]
CONTENT_TYPES = [
    b"multipart/mixed; boundary=b",
    b"multipart/alternative; boundary=b",
    b'multipart/related; boundary="b"; type=text/html',
    b"text/plain; charset=",
    b'text/plain; format=flowed; charset="x"',
    b"text/plain; charset*=utf-8''x",
    b"text/html; charset=utf-8",
    b"application/octet-stream; name*=utf-8''%ff",
    b"image/png; name==?utf-8?B?A?=",
    b"message/rfc822",
]
DISPOSITIONS = [
    b"attachment; filename*=utf-8''%ff%fe",
    b"inline; filename==?utf-8?B?A?=",
    b"attachment; filename*0*=utf-8''a; filename*1=b",
    b'attachment; filename="\xc3\xa9"',
    b"attachment",
]
DATES = [b"Tue, 99 Nov 2026 10:00:00 +0000", b"Tue, 24 Nov 99999 10:00:00 +0000", b"Mon, 01 Jan 0000 00:00:00 +0000"]
DATES += [b"1 Jan 1 00:00:00 -9999", b"Fri, 31 Dec 9999 23:59:59 -1200", b"Sat, 01 Jan 0001 00:00:00 +1400", b"garbage"]
BODY_LINES = [b"--b", b"--b--", b"hello", b"=ZZ", b"\xff\xfe", b"", b"w6k=", b'<img src="data:image/png;base64,AAAA">']

header = st.one_of(
    st.tuples(st.sampled_from(NAMES), st.lists(st.sampled_from(FRAGMENTS), max_size=12).map(b"".join)),
    st.tuples(st.just(b"Content-Type"), st.sampled_from(CONTENT_TYPES)),
    st.tuples(st.just(b"Content-Disposition"), st.sampled_from(DISPOSITIONS)),
    st.tuples(st.just(b"Date"), st.sampled_from(DATES)),
)
part = st.tuples(
    st.lists(header, max_size=6).map(lambda headers: b"\r\n".join(name + b": " + value for name, value in headers)),
    st.lists(st.sampled_from(BODY_LINES), max_size=10).map(b"\r\n".join),
)
message = st.lists(part, min_size=1, max_size=4).map(lambda parts: b"\r\n".join(h + b"\r\n\r\n" + b for h, b in parts))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message)
def test_any_message_built_from_hostile_fragments_parses(raw: bytes) -> None:
    parsed = parse_message(raw)
    thread_keys(parsed)
    assert isinstance(parsed.subject, str) and all(isinstance(value, str) for _, value in parsed.headers)
    for attachment in parsed.attachments:
        assert isinstance(attachment.content, bytes) and attachment.filename
