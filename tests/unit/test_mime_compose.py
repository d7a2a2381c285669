"""Composed messages are what email's own SMTP policy writes, byte for byte, though each kind of header's class
is made once (`mime.SMTP`) instead of once per header, and plain header values are kept as they are instead of
being parsed and folded again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from email import policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainmail.mail import mime

# names, subjects and header values with ASCII, specials, quotes, non-ASCII letters and long runs (folding),
# and plain ones (printable ASCII words, atoms), which are kept as they are when they fit on a line
anything = st.text(st.characters(min_codepoint=32, max_codepoint=0x24F, exclude_characters="\x7f"), max_size=120)
plain = st.lists(
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
    | st.sampled_from(["=?utf-8?q?x?=", "(c)", '"q"', "a.b", "<x@y>", "--"]),
    max_size=12,
).map(" ".join)
words = anything | plain
atom = st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}", fullmatch=True)
names = words | st.lists(atom, max_size=4).map(" ".join)
local = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True)
domains = st.sampled_from(["example.org", "a.example.org", "xn--bcher-kva.example", "example.org."])
people = st.builds(lambda name, user, domain: {"name": name, "address": f"{user}@{domain}"}, names, local, domains)
header_names = st.from_regex(r"X-[A-Za-z][A-Za-z0-9-]{0,30}", fullmatch=True) | st.sampled_from(
    ["Subject", "In-Reply-To", "References", "Message-ID", "Date", "To", "Sender", "Keywords", "Comments"]
)
message_ids = st.one_of(
    st.none(),
    st.builds(lambda a, b: f"<{a}@{b}>", local, domains),
    st.sampled_from(["<a b@c>", "<@x>", "no-brackets@x", "<x@[127.0.0.1]>", "<a@b> (c)"]),
)
attachments = st.builds(
    mime.NewAttachment,
    content=st.binary(max_size=200),
    filename=st.one_of(st.none(), words.filter(bool)),
    content_type=st.sampled_from([None, "application/pdf", "image/png", "text/plain"]),
    cid=st.one_of(st.none(), local.map(lambda u: f"{u}@example.org")),
    disposition=st.sampled_from([None, "attachment", "inline"]),
)
CET = timezone(timedelta(hours=1))
compositions = st.builds(
    mime.Composition,
    from_=people,
    reply_to=st.one_of(st.none(), people),
    to=st.lists(people, max_size=4),
    cc=st.lists(people, max_size=2),
    bcc=st.lists(people, max_size=2),
    subject=st.one_of(st.none(), words),
    text=st.one_of(st.none(), words),
    html=st.one_of(st.none(), words.map(lambda w: f"<p>{w}</p>")),
    headers=st.lists(st.tuples(header_names, words), max_size=3),
    attachments=st.lists(attachments, max_size=2),
    date=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9998, 12, 31), timezones=st.sampled_from([UTC, CET])
    ),
    message_id=message_ids,
)


def _composed(composition: mime.Composition, smtp: policy.EmailPolicy, seed: int, *, plain: bool) -> bytes | str:
    """The message, or the error composing it (a value the API answers 400 for, such as a line break);
    without `plain`, every header goes through email's header classes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mime, "SMTP", smtp)
        if not plain:
            patch.setattr(mime, "_raw", mime._through_classes)
        patch.setattr(mime, "make_msgid", lambda domain: f"<{seed}.made@{domain}>")  # it reads the clock
        random.seed(seed)  # multipart boundaries are random
        try:
            return mime.build_message(composition, domain="example.org")
        except (ValueError, TypeError) as error:
            return f"{type(error).__name__}: {error}"


@settings(max_examples=500, deadline=None)
@given(composition=compositions, seed=st.integers(0, 2**32))
def test_a_composed_message_is_what_the_standard_smtp_policy_writes(composition: mime.Composition, seed: int) -> None:
    standard = _composed(composition, policy.SMTP, seed, plain=False)
    assert _composed(composition, mime.SMTP, seed, plain=True) == standard


def test_header_classes_are_made_once_per_kind_whatever_the_names() -> None:
    registry = mime.SMTP.header_factory
    headers = [(f"X-Custom-{n}", "value") for n in range(500)] + [("Subject", "s"), ("To", "a@example.org")]
    mime.build_message(mime.Composition(from_={"address": "a@example.org"}, headers=headers), domain="example.org")

    assert registry["X-Custom-1"] is registry["X-Custom-499"] is registry["X-Anything"]
    assert registry["Subject"] is not registry["X-Custom-1"]
    assert len(registry._made) <= len(registry.registry) + 1  # bounded by the kinds, not by the names
