"""Two `chainmail serve` nodes on one database, with `chainmail project` and `chainmail deliver` beside them:
concurrent uploads and flag changes into the same mailboxes from both, one node killed with SIGKILL mid-load.
No acknowledged write is lost, no UID is handed out twice, counters and storage are exact (nothing folded
twice), and every read model replayed from the events equals the live one."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from chainmail.config import Settings
from chainmail.projections.registry import PROJECTIONS
from chainmail.system import System
from tests.e2e.conftest import ROOT_TOKEN, chainmail, chainmail_env
from tests.integration.test_projections import rows

HEADERS = {"X-Access-Token": ROOT_TOKEN}
CLIENTS = 8
SECONDS = 6.0


@pytest.mark.e2e
def test_two_nodes_share_mailboxes_and_a_killed_node_loses_no_acknowledged_write(
    database_url: str, server_factory, tmp_path: Path
) -> None:
    first, second = server_factory(database_url, workers=2), server_factory(database_url, workers=2)
    env = chainmail_env(database_url, tmp_path / "var")
    workers = [chainmail(command, env=env, log=tmp_path / f"{command}.log") for command in ("project", "deliver")]
    try:
        owners = [_user(first.url, name) for name in ("hot", "warm")]
        inboxes = {user: _inbox(first.url, user) for user in owners}
        acknowledged: dict[str, list[str]] = {user: [] for user in owners}
        failures: list[str] = []
        killed = threading.Event()
        stop = time.monotonic() + SECONDS

        def client(number: int) -> None:
            rng = random.Random(number)
            with httpx.Client(timeout=60) as http:
                sent = 0
                while time.monotonic() < stop:
                    node = first if killed.is_set() or number % 2 == 0 else second
                    user = owners[0] if rng.random() < 0.75 else owners[1]
                    base = f"{node.url}/api/users/{user}/mailboxes/{inboxes[user]}/messages"
                    # every attempt has a subject of its own: a request cut by the kill may have landed
                    # unanswered, and the next attempt is another message, not a retry of it
                    subject = f"c{number} m{sent}"
                    sent += 1
                    try:
                        answer = http.post(base, json={"subject": subject, "text": "hello"}, headers=HEADERS)
                    except httpx.TransportError:
                        continue  # the killed node: not acknowledged, so nothing is owed
                    if answer.status_code != 200:
                        failures.append(f"{answer.status_code} {answer.text}")
                        continue
                    uid = answer.json()["message"]["id"]
                    acknowledged[user].append(subject)
                    if uid % 3 == 0:  # flag changes race the uploads into the same mailbox
                        try:
                            flagged = http.put(f"{base}/{uid}", json={"seen": True}, headers=HEADERS)
                        except httpx.TransportError:
                            continue  # cut by the kill: a flag change owes nothing either, the client goes on
                        if flagged.status_code != 200:
                            failures.append(f"flag {flagged.status_code} {flagged.text}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(SECONDS / 2)
        # the gunicorn master and its workers, in the middle of their requests
        for pid in [*_children(second.process.pid), second.process.pid]:
            os.kill(pid, signal.SIGKILL)
        killed.set()
        for thread in threads:
            thread.join()

        assert failures == [], first.log.read_text()[-8000:]  # the server's own account of an error
        for user in owners:
            listed = httpx.get(
                f"{first.url}/api/users/{user}/mailboxes/{inboxes[user]}/messages",
                params={"limit": 250, "order": "asc"},
                headers=HEADERS,
                timeout=60,
            ).json()
            results = listed["results"]
            while listed.get("nextCursor"):
                listed = httpx.get(
                    f"{first.url}/api/users/{user}/mailboxes/{inboxes[user]}/messages",
                    params={"limit": 250, "order": "asc", "next": listed["nextCursor"]},
                    headers=HEADERS,
                    timeout=60,
                ).json()
                results += listed["results"]
            subjects = [m["subject"] for m in results]
            uids = [m["id"] for m in results]
            # every acknowledged upload is there (a request cut by the kill may have landed unanswered)
            assert set(acknowledged[user]) <= set(subjects)
            assert len(subjects) == len(set(subjects))  # nothing stored twice
            assert sorted(uids) == list(range(1, len(uids) + 1))  # UIDs unique and without gaps
            folder = httpx.get(
                f"{first.url}/api/users/{user}/mailboxes/{inboxes[user]}", headers=HEADERS, timeout=60
            ).json()
            assert folder["total"] == len(results)
            assert folder["unseen"] == sum(1 for m in results if not m["seen"])
            sizes = httpx.get(
                f"{first.url}/api/users/{user}/mailboxes", params={"sizes": "true"}, headers=HEADERS, timeout=60
            ).json()
            size = next(m["size"] for m in sizes["results"] if m["id"] == inboxes[user])
            assert size == sum(m["size"] for m in results)
            account = httpx.get(f"{first.url}/api/users/{user}", headers=HEADERS, timeout=60).json()
            assert account["limits"]["quota"]["used"] == size
        assert len(acknowledged[owners[0]]) > 20, "too little load to mean anything"
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)

    system = System(Settings(database_url=database_url))
    try:
        for projection in PROJECTIONS:
            if not projection.inline:
                continue
            live = rows(system.engine, projection)
            system.projections.replay(projection.name)
            assert rows(system.engine, projection) == live, projection.name
    finally:
        system.close()


@pytest.mark.e2e
def test_one_hot_inbox_under_four_workers_answers_every_upload(database_url: str, server_factory) -> None:
    # Writers of four processes meet in one folder's next version: every upload is answered, in order.
    node = server_factory(database_url, workers=4)
    user = _user(node.url, "hotinbox")
    inbox = _inbox(node.url, user)
    base = f"{node.url}/api/users/{user}/mailboxes/{inbox}/messages"
    answered: list[int] = []
    failures: list[str] = []
    stop = time.monotonic() + SECONDS

    def client(number: int) -> None:
        with httpx.Client(timeout=60) as http:
            sent = 0
            while time.monotonic() < stop:
                answer = http.post(base, content=_rfc822(f"h{number} m{sent}"), headers=RFC822)
                sent += 1
                if answer.status_code == 200:
                    answered.append(answer.json()["message"]["id"])
                else:
                    failures.append(f"{answer.status_code} {answer.text}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == [], node.log.read_text()[-8000:]  # the server's own account of an error
    assert sorted(answered) == list(range(1, len(answered) + 1))  # each UID once, none skipped
    folder = httpx.get(f"{node.url}/api/users/{user}/mailboxes/{inbox}", headers=HEADERS, timeout=60).json()
    assert folder["total"] == len(answered) > 24


RFC822 = {**HEADERS, "Content-Type": "message/rfc822"}


def _rfc822(subject: str) -> bytes:
    return f"From: a@example.org\r\nTo: b@example.com\r\nSubject: {subject}\r\n\r\nhello\r\n".encode()


def _user(url: str, name: str) -> str:
    answer = httpx.post(f"{url}/api/users", json={"username": name, "password": "pw"}, headers=HEADERS, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def _inbox(url: str, user: str) -> str:
    boxes = httpx.get(f"{url}/api/users/{user}/mailboxes", headers=HEADERS, timeout=60).json()["results"]
    return next(m["id"] for m in boxes if m["path"] == "INBOX")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
