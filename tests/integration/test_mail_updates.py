"""Live updates: `GET /users/:user/updates` streams the user's mailbox changes as Server-Sent Events from
the event store, and resumes after `Last-Event-ID`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import falcon.testing

from chainmail.http.app import create_app
from chainmail.http.wildduck.updates import IDLE_EVERY, UpdatesResource
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.mail_support import create_user, mailbox_ids, upload


def events(system: System, path: str, count: int, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Read `count` SSE events from a live stream through the WSGI app, then hang up."""
    app = create_app(system)
    environ = falcon.testing.create_environ(path, headers={"X-Access-Token": ROOT_TOKEN, **(headers or {})})
    status: list[str] = []
    body: Iterator[bytes] = iter(app(environ, lambda s, h: status.append(s)))
    assert status[0].startswith("200"), status
    buffer, found = b"", []
    for chunk in body:
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            lines = block.decode().split("\n")
            data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
            ids = [line[4:] for line in lines if line.startswith("id: ")]
            if data:
                found.append({**json.loads(data), "_id": ids[0] if ids else None})
        if len(found) >= count:
            break
    close = getattr(body, "close", None)
    if close:
        close()
    return found


def test_updates_replay_after_last_event_id_and_report_counters(
    client: falcon.testing.TestClient, system: System
) -> None:
    user = create_user(client, "watcher")
    other = create_user(client, "bystander")
    inbox = mailbox_ids(client, user)["INBOX"]
    upload(client, user, inbox, subject="first")
    upload(client, other, mailbox_ids(client, other)["INBOX"], subject="not mine")
    folder = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Later"}).json["id"]
    client.simulate_put(f"/api/users/{user}/mailboxes/{inbox}/messages/1", json={"flagged": True})
    client.simulate_put(f"/api/users/{user}/mailboxes/{inbox}/messages/1", json={"moveTo": folder})

    everything = events(system, f"/api/users/{user}/updates", 16, headers={"Last-Event-ID": "0"})

    # the account's five folders come first
    assert [e["command"] for e in everything[:5]] == ["CREATE"] * 5
    assert {e["path"] for e in everything[:5]} == {"INBOX", "Sent Mail", "Trash", "Drafts", "Junk"}
    replay = everything[5:]

    commands = [(e["command"], e["mailbox"]) for e in replay]
    assert commands[:4] == [
        ("EXISTS", inbox),
        ("CREATE", folder),
        ("FETCH", inbox),
        ("EXPUNGE", inbox),
    ]
    assert commands[4] == ("EXISTS", folder)
    assert replay[0]["uid"] == 1 and replay[2]["flags"] == ["\\Flagged"]
    # after the replay, the counters of every folder it touched (the six of this user)
    assert [c for c, _m in commands[5:]] == ["COUNTERS"] * 6
    counters = {e["mailbox"]: e for e in replay[5:]}
    assert counters[folder]["total"] == 1 and counters[inbox]["total"] == 0
    assert all(e.get("message") != "not mine" for e in replay)

    resumed = events(system, f"/api/users/{user}/updates", 2, headers={"Last-Event-ID": replay[2]["_id"]})
    assert [e["command"] for e in resumed] == ["EXPUNGE", "EXISTS"]


def test_updates_refuse_bad_input(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get(f"/api/users/{'x' * 24}/updates").status_code == 400
    assert client.simulate_get(f"/api/users/{'0' * 24}/updates").json["code"] == "UserNotFound"


def test_a_quiet_stream_says_it_is_idle_at_once_and_then_every_so_often(
    client: falcon.testing.TestClient, system: System
) -> None:
    user = create_user(client, "quiet")
    other = create_user(client, "busy")
    other_inbox = mailbox_ids(client, other)["INBOX"]
    resource = UpdatesResource(system, poll_seconds=0)
    chunks: list[bytes] = []
    for chunk in resource.stream(user, None, polls=IDLE_EVERY * 2 + 1):
        chunks.append(chunk)
        if len(chunks) == 1:
            upload(client, other, other_inbox, subject="someone else's news")  # not this stream's

    # as WildDuck: a comment at once (the client has its headers), then one after IDLE_EVERY polls that sent
    # nothing, other users' news or not
    assert chunks == [b": idling 1\n\n", b": idling 2\n\n", b": idling 3\n\n"]
