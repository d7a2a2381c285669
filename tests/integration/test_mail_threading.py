"""Messages are threaded as WildDuck threads them: by message ids (Message-ID, In-Reply-To, References,
Thread-Index) under the same normalized subject, per user; `threadMessageCount` counts a thread's messages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainmail.config import Settings
from chainmail.domain.mail.application import NewUser
from chainmail.domain.mail.threading import normalize_subject
from chainmail.mail.store import MailStore
from chainmail.projections.mailboxes import mailbox_by_path
from chainmail.system import System
from tests.integration.mail_support import create_user, mailbox_ids


def mail(message_id: str, subject: str, *, in_reply_to: str = "", references: str = "", extra: str = "") -> bytes:
    headers = ["From: a@example.org", f"Subject: {subject}", f"Message-ID: <{message_id}>"]
    if in_reply_to:
        headers.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        headers.append(f"References: {references}")
    if extra:
        headers.append(extra)
    return ("\r\n".join(headers) + "\r\n\r\nbody\r\n").encode()


def post_raw(client: falcon.testing.TestClient, user: str, mailbox: str, raw: bytes) -> int:
    result = client.simulate_post(
        f"/api/users/{user}/mailboxes/{mailbox}/messages", body=raw, headers={"Content-Type": "message/rfc822"}
    )
    assert result.status_code == 200, result.text
    return int(result.json["message"]["id"])


def listing(client: falcon.testing.TestClient, user: str, mailbox: str) -> dict[int, dict[str, Any]]:
    got = client.simulate_get(
        f"/api/users/{user}/mailboxes/{mailbox}/messages", params={"threadCounters": "true", "limit": 100}
    )
    return {m["id"]: m for m in got.json["results"]}


def test_a_reply_chain_shares_one_thread_and_counts_it(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "threader")
    ids = mailbox_ids(client, user)
    inbox, sent = ids["INBOX"], ids["Sent Mail"]
    root = post_raw(client, user, inbox, mail("root@x", "Plans for Friday"))
    reply = post_raw(client, user, sent, mail("r1@x", "Re: Plans for Friday", in_reply_to="root@x"))
    deeper = post_raw(
        client, user, inbox, mail("r2@x", "RE: [team] Re: Plans  for Friday", references="<root@x> <r1@x>")
    )
    outlook = post_raw(client, user, inbox, mail("o@x", "Fwd: Plans for Friday (fwd)", references="<r2@x>"))
    other_subject = post_raw(client, user, inbox, mail("s@x", "Something else", in_reply_to="root@x"))
    unrelated = post_raw(client, user, inbox, mail("u@x", "Plans for Friday"))

    box = listing(client, user, inbox)
    thread = box[root]["thread"]
    assert listing(client, user, sent)[reply]["thread"] == thread
    assert box[deeper]["thread"] == thread and box[outlook]["thread"] == thread
    assert box[other_subject]["thread"] != thread  # same ids, another subject: WildDuck starts a new thread
    assert box[unrelated]["thread"] != thread  # same subject, no shared id
    assert box[root]["threadMessageCount"] == 4  # counted across folders
    assert box[unrelated]["threadMessageCount"] == 1
    assert (
        "threadMessageCount"
        not in client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages").json["results"][0]
    )

    # threads are per user
    stranger = create_user(client, "stranger")
    theirs = post_raw(
        client,
        stranger,
        mailbox_ids(client, stranger)["INBOX"],
        mail("r9@x", "Re: Plans for Friday", in_reply_to="root@x"),
    )
    assert listing(client, stranger, mailbox_ids(client, stranger)["INBOX"])[theirs]["thread"] != thread

    # a message moved to another folder keeps its thread, and later replies still find it
    moved = client.simulate_put(f"/api/users/{user}/mailboxes/{inbox}/messages/{root}", json={"moveTo": ids["Trash"]})
    assert moved.status_code == 200
    late = post_raw(client, user, inbox, mail("late@x", "Re: Plans for Friday", in_reply_to="root@x"))
    assert listing(client, user, inbox)[late]["thread"] == thread
    found = client.simulate_get(f"/api/users/{user}/search", params={"thread": thread, "limit": 50}).json
    assert found["total"] == 5


def test_thread_index_prefix_links_outlook_messages(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "outlooker")
    inbox = mailbox_ids(client, user)["INBOX"]
    index = "AdPzN6R2sU3lD3WWQymF0aA7vAIazg=="
    first = post_raw(client, user, inbox, mail("a1@x", "Budget", extra=f"Thread-Index: {index}"))
    second = post_raw(client, user, inbox, mail("a2@x", "RE: Budget", extra=f"Thread-Index: {index}AAAHHH"))
    box = listing(client, user, inbox)
    assert box[first]["thread"] == box[second]["thread"]


def test_subjects_normalize_as_wildduck_does() -> None:
    assert normalize_subject("Re: [EXTERNAL] Re: Fwd: Example subject (fwd)") == "Example subject"
    assert normalize_subject("  fw:   hello\t world ") == "hello world"
    assert normalize_subject("[only]") == "[only]"
    assert normalize_subject("Re:") == ""


@pytest.fixture
def store_system(database_url: str) -> Any:
    system = System(Settings(database_url=database_url, email_domain="example.com"))
    yield system
    system.close()


replies = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(["Re: ", "RE: ", "Fwd: ", "Re: Re: ", "[list] Re: "])),
    min_size=1,
    max_size=8,
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=replies, subject=st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20))
def test_replies_always_share_the_thread_of_their_parent(store_system: System, script: list, subject: str) -> None:
    """Each message replies to a random earlier one (by In-Reply-To, or References), with any reply prefix."""
    store = MailStore(store_system)
    user = store_system.mail.create_user(NewUser(username=f"t{uuid.uuid4().hex[:10]}", password=""))
    with store_system.engine.connect() as conn:
        folder = mailbox_by_path(conn, user, "INBOX")["id"]  # type: ignore[index]
    store.store(user, folder, mail("m0@t", subject), flags=[], idate=datetime.now(UTC))
    threads = [store.message(user, folder, 1)["thread"]]
    for n, (parent, prefix) in enumerate(script, start=1):
        parent %= n
        by_references = parent % 2 == 0
        raw = mail(
            f"m{n}@t",
            prefix + subject,
            in_reply_to="" if by_references else f"m{parent}@t",
            references=f"<m0@t> <m{parent}@t>" if by_references else "",
        )
        stored = store.store(user, folder, raw, flags=[], idate=datetime.now(UTC))
        threads.append(store.message(user, folder, stored.uid)["thread"])
        assert threads[-1] == threads[parent]
