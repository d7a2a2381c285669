"""Whatever a client sends to the mail routes, the answer is a success or a clear 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.mail_support import create_user, mailbox_ids

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
upload_fields = st.sampled_from(
    [
        "raw",
        "from",
        "to",
        "cc",
        "subject",
        "text",
        "html",
        "attachments",
        "headers",
        "date",
        "unseen",
        "metaData",
        "files",
        "reference",
        "replacePrevious",
        "envelope",
        "flagged",
    ]
)
mime_lines = st.lists(
    st.sampled_from(
        [
            b"Subject: =?utf-8?B?broken",
            b"Subject: =?utf-8?b?A?= and a word whose base64 is cut short",
            b"Content-Type: text/plain; charset*=utf-8''x",
            b"Content-Disposition: attachment",
            b"Content-Type: multipart/mixed; boundary=x",
            b"Content-Type: text/plain; charset=x-unknown",
            b"Content-Transfer-Encoding: base64",
            b"Content-Transfer-Encoding: quoted-printable",
            b"--x",
            b"--x--",
            b"Content-Disposition: attachment; filename*=utf-8''%ff%fe",
            b"From: \xff\xfe <>",
            b"",
            b"=ZZ=\xc3",
            b"!!!!",
            b"X-Nul: a\x00b",
            b"References: <a\x00b@x>",
        ]
    ),
    max_size=20,
)


@pytest.fixture
def mailbox_of(client: falcon.testing.TestClient) -> tuple[str, str]:
    user = create_user(client, "fuzzed")
    return user, mailbox_ids(client, user)["INBOX"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=mime_lines, tail=st.binary(max_size=200))
def test_any_raw_message_is_stored_or_refused_cleanly(
    client: falcon.testing.TestClient, mailbox_of: tuple[str, str], lines: list[bytes], tail: bytes
) -> None:
    user, inbox = mailbox_of
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + tail
    answer = client.simulate_post(
        f"/api/users/{user}/mailboxes/{inbox}/messages", body=raw, headers={"Content-Type": "message/rfc822"}
    )
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 200:
        uid = answer.json["message"]["id"]
        assert client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages/{uid}").status_code == 200


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(upload_fields, json_values, max_size=4),
    query=st.dictionaries(
        st.sampled_from(
            ["limit", "next", "previous", "order", "unseen", "includeHeaders", "query", "or.query", "datestart", "id"]
        ),
        st.text(max_size=12),
        max_size=3,
    ),
)
def test_any_field_values_get_a_clear_answer(
    client: falcon.testing.TestClient, mailbox_of: tuple[str, str], body: dict[str, Any], query: dict[str, str]
) -> None:
    user, inbox = mailbox_of
    for answer in (
        client.simulate_post(f"/api/users/{user}/mailboxes/{inbox}/messages", json=body),
        client.simulate_put(f"/api/users/{user}/mailboxes/{inbox}/messages", json={"message": "1:*", **body}),
        client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages", params=query),
        client.simulate_get(f"/api/users/{user}/search", params=query),
        client.simulate_post(f"/api/users/{user}/mailboxes", json=body),
        client.simulate_post(f"/api/users/{user}/filters", json=body),
    ):
        assert answer.status_code < 500, answer.text


def test_null_characters_are_refused_not_stored(client: falcon.testing.TestClient, mailbox_of: tuple[str, str]) -> None:
    user, inbox = mailbox_of

    path = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "a\u0000b"})
    search = client.simulate_get(f"/api/users/{user}/search", params={"query": "x\x00y"})
    subject = client.simulate_post(f"/api/users/{user}/mailboxes/{inbox}/messages", json={"subject": "\u0000"})

    assert path.status_code == 400 and path.json["error"] == '"path" must not contain null characters'
    assert search.status_code == 400 and subject.status_code == 400


def test_nul_bytes_inside_a_raw_message_are_stored(
    client: falcon.testing.TestClient, mailbox_of: tuple[str, str]
) -> None:
    user, inbox = mailbox_of
    raw = (
        b"Subject: a\x00b\r\nReferences: <r\x00@x>\r\nIn-Reply-To: <i\x00@x>\r\n"
        b"From: n\x00 <f@x.org>\r\n\r\nbo\x00dy\r\n"
    )

    stored = client.simulate_post(
        f"/api/users/{user}/mailboxes/{inbox}/messages", body=raw, headers={"Content-Type": "message/rfc822"}
    )

    assert stored.status_code == 200, stored.text
    got = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages/1/message.eml")
    assert got.content == raw
