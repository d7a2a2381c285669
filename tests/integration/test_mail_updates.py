"""Live updates: `GET /users/:user/updates` streams the user's mailbox changes as Server-Sent Events from
the event store, and resumes after `Last-Event-ID`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import falcon.testing

from chainmail.http.app import create_app
from chainmail.http.buffered import Pause
from chainmail.http.wildduck import updates
from chainmail.http.wildduck.updates import IDLE_EVERY, SharedFeed, UpdatesResource
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
    assert {e["_id"] for e in replay[5:]} == {replay[4]["_id"]}  # as WildDuck: the replay's last event id
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
    clock = Clock()
    resource = UpdatesResource(system, poll_seconds=1, feed=SharedFeed(system, poll_seconds=1, clock=clock))
    said: list[tuple[float, bytes]] = []
    for chunk in resource.stream(user, None, pause=Pause):  # asked again after each pause, as if woken each second
        if not isinstance(chunk, Pause):
            said.append((clock.now, chunk))
        elif clock.now == 1:
            upload(client, other, other_inbox, subject="someone else's news")  # not this stream's
        clock.now += 1 if isinstance(chunk, Pause) else 0
        if clock.now > IDLE_EVERY * 2 + 1:
            break

    # as WildDuck: a comment at once (the client has its headers), then one after each IDLE_EVERY seconds
    # without this stream's news, other users' news or not
    assert said == [(0, b": idling 1\n\n"), (IDLE_EVERY, b": idling 2\n\n"), (IDLE_EVERY * 2, b": idling 3\n\n")]


def _until_pause(stream: Iterator[bytes]) -> list[dict[str, Any]]:
    """The events a stream sends before it next pauses (its comments left out)."""
    found = []
    for chunk in stream:
        if isinstance(chunk, Pause):
            return found
        data = "\n".join(line[6:] for line in chunk.decode().split("\n") if line.startswith("data: "))
        if data:
            found.append(json.loads(data))
    raise AssertionError("the stream ended")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_live_streams_of_a_process_share_one_read_of_the_store(
    client: falcon.testing.TestClient, system: System, monkeypatch
) -> None:
    users = [create_user(client, f"live{n}") for n in range(6)]
    inboxes = {user: mailbox_ids(client, user)["INBOX"] for user in users}
    clock = Clock()
    resource = UpdatesResource(system, poll_seconds=30, feed=SharedFeed(system, poll_seconds=30, clock=clock))
    reads: list[object] = []
    read = updates.select_notifications
    monkeypatch.setattr(updates, "select_notifications", lambda *a, **k: reads.append(k["after"]) or read(*a, **k))
    streams = {user: resource.stream(user, None, pause=Pause) for user in users}
    assert all(_until_pause(stream) == [] for stream in streams.values())

    for user in users:
        upload(client, user, inboxes[user], subject=f"for {user}")
    renamed = mailbox_ids(client, users[0])["Junk"]
    client.simulate_put(f"/api/users/{users[0]}/mailboxes/{renamed}", json={"path": "Spam"})
    clock.now += 30
    reads.clear()
    news = {user: _until_pause(stream) for user, stream in streams.items()}

    assert len(reads) == 1  # six streams, one read (each stream read the store itself before)
    for user in users:
        assert [(e["command"], e["mailbox"], e.get("uid")) for e in news[user]] == [
            ("EXISTS", inboxes[user], 1),
            *([("RENAME", renamed, None)] if user == users[0] else []),  # the owner's alone
        ]


def test_a_stream_the_feed_left_behind_reads_alone_and_misses_nothing(
    client: falcon.testing.TestClient, system: System
) -> None:
    slow, fast = create_user(client, "slow"), create_user(client, "fast")
    inbox = mailbox_ids(client, slow)["INBOX"]
    clock = Clock()
    feed = SharedFeed(system, poll_seconds=30, keep=2, clock=clock)
    resource = UpdatesResource(system, poll_seconds=30, feed=feed)
    behind, ahead = resource.stream(slow, None, pause=Pause), resource.stream(fast, None, pause=Pause)
    _until_pause(behind), _until_pause(ahead)
    for number in range(5):  # the feed keeps two: the slow stream's position falls out of it
        upload(client, slow, inbox, subject=f"number {number}")
        clock.now += 30
        assert _until_pause(ahead) == []

    caught_up = _until_pause(behind)
    assert [(e["command"], e["uid"]) for e in caught_up] == [("EXISTS", uid) for uid in range(1, 6)]
    upload(client, slow, inbox, subject="and one more")
    clock.now += 30
    assert [(e["command"], e["uid"]) for e in _until_pause(behind)] == [("EXISTS", 6)]


def test_a_replay_longer_than_a_page_reports_the_counters_of_every_folder_it_touched(
    client: falcon.testing.TestClient, system: System, monkeypatch
) -> None:
    monkeypatch.setattr(updates, "PAGE", 2)
    user = create_user(client, "pages")
    inbox = mailbox_ids(client, user)["INBOX"]
    folder = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Elsewhere"}).json["id"]
    upload(client, user, inbox, subject="first")
    upload(client, user, folder, subject="second")

    replay = _until_pause(UpdatesResource(system).stream(user, 0, pause=Pause))

    assert [e["command"] for e in replay[:8]] == ["CREATE"] * 6 + ["EXISTS"] * 2
    counters = {e["mailbox"]: (e["total"], e["unseen"]) for e in replay[8:]}
    assert len(replay) == 14 and len(counters) == 6 and {e["command"] for e in replay[8:]} == {"COUNTERS"}
    assert counters[inbox] == (1, 1) and counters[folder] == (1, 1)


def test_streams_read_through_the_feed_while_appends_commit_in_parallel_miss_and_repeat_nothing(
    client: falcon.testing.TestClient, system: System
) -> None:
    users = [create_user(client, f"busy{n}") for n in range(4)]
    inboxes = {user: mailbox_ids(client, user)["INBOX"] for user in users}
    resource = UpdatesResource(system, poll_seconds=0)  # every ask reads the store: as many interleavings as can be
    streams = {user: resource.stream(user, None, pause=Pause) for user in users}
    for stream in streams.values():
        _until_pause(stream)
    each = 15

    def appends(user: str) -> None:
        for number in range(each):
            upload(client, user, inboxes[user], subject=f"{number}")

    seen: dict[str, list[int]] = {user: [] for user in users}
    with ThreadPoolExecutor(len(users)) as pool:
        writing = [pool.submit(appends, user) for user in users]
        deadline = time.monotonic() + 60
        while any(len(uids) < each for uids in seen.values()) and time.monotonic() < deadline:
            for user, stream in streams.items():
                seen[user] += [e["uid"] for e in _until_pause(stream) if e["command"] == "EXISTS"]
        for done in writing:
            done.result()
    for user, stream in streams.items():  # and nothing more comes
        seen[user] += [e["uid"] for e in _until_pause(stream) if e["command"] == "EXISTS"]

    assert seen == {user: list(range(1, each + 1)) for user in users}


def test_a_paused_stream_wakes_for_its_own_news_and_one_stream_reads_for_all(
    client: falcon.testing.TestClient, system: System
) -> None:
    users = [create_user(client, f"waker{n}") for n in range(3)]
    inboxes = {user: mailbox_ids(client, user)["INBOX"] for user in users}
    clock = Clock()
    feed = SharedFeed(system, poll_seconds=1, clock=clock)
    resource = UpdatesResource(system, poll_seconds=1, feed=feed)
    streams = {user: resource.stream(user, None, pause=Pause) for user in users}
    pauses: dict[str, Pause] = {}
    for user, stream in streams.items():
        for chunk in stream:
            if isinstance(chunk, Pause):
                pauses[user] = chunk
                break
    assert all(p.wake is not None and p.within == IDLE_EVERY for p in pauses.values())
    first, second, third = users

    assert [pauses[u].wake() for u in users] == [False, False, False]  # the feed was read just now
    upload(client, first, inboxes[first], subject="news for the first")
    clock.now += 1  # the feed is due a read: one stream, the first to be asked, says it will make it
    assert [pauses[u].wake() for u in (second, third, first)] == [True, False, False]
    assert [e["command"] for e in _until_pause(streams[second])] == []  # its read brings the first's news
    assert [pauses[u].wake() for u in (first, third)] == [True, False]  # its own news wakes the first alone
    assert [(e["command"], e["uid"]) for e in _until_pause(streams[first])] == [("EXISTS", 1)]


def test_a_read_that_brings_news_nudges_the_server_and_one_without_does_not(
    client: falcon.testing.TestClient, system: System
) -> None:
    user = create_user(client, "nudged")
    inbox = mailbox_ids(client, user)["INBOX"]
    clock = Clock()
    feed = SharedFeed(system, poll_seconds=1, clock=clock)
    nudges: list[int] = []
    stream = UpdatesResource(system, poll_seconds=1, feed=feed).stream(
        user, None, pause=Pause, nudge=lambda: nudges.append(1)
    )
    _until_pause(stream)
    clock.now += 1
    _until_pause(stream)
    assert nudges == []  # a read, nothing new
    upload(client, user, inbox, subject="news")
    clock.now += 1
    assert [e["command"] for e in _until_pause(stream)] == ["EXISTS"]
    assert nudges == [1]
