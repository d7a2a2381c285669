"""Two clients change the same message at the same moment, each through its own worker (its own System: engine,
event store connections, caches), on both stores. Whatever a request read before the account's turn, what it
records must follow the message as it is inside the turn: one of two deletions or moves wins and the other is
not found, folder counters and storage stay exact, a message is archived once and restored once, a draft
sent twice is queued once, and requests at once stay within the quota and the daily sending limit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest
from sqlalchemy import func, select

from chainmail.mail.inbound import Inbound, Received, resolve_recipient
from chainmail.projections.outbound import outbound_queue
from chainmail.system import System
from tests.integration.conftest import in_threads
from tests.integration.mail_support import create_user, mailbox_ids, upload

TRIALS = 8

Client = falcon.testing.TestClient


def at_once(requests: list[Callable[[], falcon.testing.Result]]) -> list[int]:
    """Every request sent at the same moment, each from a thread of its own; the statuses, sorted."""
    start = threading.Barrier(len(requests))
    statuses: list[int] = []

    def send(request: Callable[[], falcon.testing.Result]) -> None:
        start.wait()
        statuses.append(request().status_code)

    in_threads(lambda n: send(requests[n]), len(requests))
    return sorted(statuses)


def each(clients: list[Client], request: Callable[[Client], falcon.testing.Result]) -> list[Callable[[], Any]]:
    """The same request from every client."""
    return [lambda c=c: request(c) for c in clients]


def folder(client: Client, user: str, mailbox: str) -> dict[str, int]:
    shown = client.simulate_get(f"/api/users/{user}/mailboxes/{mailbox}").json
    listed = client.simulate_get(f"/api/users/{user}/mailboxes/{mailbox}/messages", params={"limit": 250}).json
    unseen = sum(1 for m in listed["results"] if not m["seen"])
    return {"total": shown["total"], "unseen": shown["unseen"], "listed": listed["total"], "listed_unseen": unseen}


def storage(client: Client, user: str) -> int:
    return client.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"]


def test_one_message_deleted_by_two_clients_at_once_is_deleted_once(clients: list[Client]) -> None:
    user = create_user(clients[0], "deleters")
    inbox = mailbox_ids(clients[0], user)["INBOX"]
    kept = upload(clients[0], user, inbox, subject="stays")["id"]
    for trial in range(TRIALS):
        uid = upload(clients[0], user, inbox, subject=f"twice {trial}")["id"]
        path = f"/api/users/{user}/mailboxes/{inbox}/messages/{uid}"
        assert at_once(each(clients, lambda c, path=path: c.simulate_delete(path))) == [200, 404]

    assert folder(clients[1], user, inbox) == {"total": 1, "unseen": 1, "listed": 1, "listed_unseen": 1}
    only = clients[1].simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages/{kept}").json
    assert storage(clients[0], user) == only["size"]
    archived = clients[0].simulate_get(f"/api/users/{user}/archived/messages", params={"limit": 250}).json
    assert sorted(m["subject"] for m in archived["results"]) == sorted(f"twice {t}" for t in range(TRIALS))


def test_one_message_moved_by_two_clients_at_once_moves_once_and_the_other_is_not_found(
    clients: list[Client],
) -> None:
    user = create_user(clients[0], "movers")
    folders = mailbox_ids(clients[0], user)
    for trial in range(TRIALS):
        uid = upload(clients[0], user, folders["INBOX"], subject=f"move {trial}", seen=trial % 2 == 0)["id"]
        path = f"/api/users/{user}/mailboxes/{folders['INBOX']}/messages/{uid}"
        moved = at_once(each(clients, lambda c, path=path: c.simulate_put(path, json={"moveTo": folders["Trash"]})))
        assert moved == [200, 404]

    assert folder(clients[1], user, folders["INBOX"]) == {"total": 0, "unseen": 0, "listed": 0, "listed_unseen": 0}
    half = TRIALS // 2
    assert folder(clients[0], user, folders["Trash"]) == {
        "total": TRIALS,
        "unseen": half,
        "listed": TRIALS,
        "listed_unseen": half,
    }


def test_a_message_deleted_while_another_client_flags_it_leaves_the_counters_exact(clients: list[Client]) -> None:
    user = create_user(clients[0], "flaggers")
    inbox = mailbox_ids(clients[0], user)["INBOX"]
    for trial in range(TRIALS):
        uid = upload(clients[0], user, inbox, subject=f"flag {trial}")["id"]
        path = f"/api/users/{user}/mailboxes/{inbox}/messages/{uid}"
        answers = at_once(
            [
                lambda path=path: clients[0].simulate_delete(path),
                lambda path=path: clients[1].simulate_put(path, json={"seen": True}),
            ]
        )
        assert set(answers) <= {200, 404} and 200 in answers

    assert folder(clients[1], user, inbox) == {"total": 0, "unseen": 0, "listed": 0, "listed_unseen": 0}
    assert storage(clients[0], user) == 0


def test_a_draft_sent_by_two_requests_at_once_is_queued_once(clients: list[Client], workers: list[System]) -> None:
    user = create_user(clients[0], "double-clicker")
    sent_folder = mailbox_ids(clients[0], user)["Sent Mail"]
    for trial in range(TRIALS):
        draft = (
            clients[0]
            .simulate_post(
                f"/api/users/{user}/submit",
                json={"isDraft": True, "to": [{"address": f"friend{trial}@remote.test"}], "subject": f"d{trial}"},
            )
            .json["message"]
        )
        path = f"/api/users/{user}/mailboxes/{draft['mailbox']}/messages/{draft['id']}/submit"
        assert at_once(each(clients, lambda c, path=path: c.simulate_post(path, json={}))) == [200, 404]

    with workers[0].engine.connect() as conn:
        queued = conn.execute(select(func.count()).select_from(outbound_queue)).scalar_one()
    assert queued == TRIALS
    assert folder(clients[1], user, sent_folder)["total"] == TRIALS


def test_an_archived_message_restored_by_two_clients_at_once_comes_back_once(clients: list[Client]) -> None:
    user = create_user(clients[0], "restorers")
    inbox = mailbox_ids(clients[0], user)["INBOX"]
    for trial in range(TRIALS):
        uid = upload(clients[0], user, inbox, subject=f"back {trial}")["id"]
        assert clients[0].simulate_delete(f"/api/users/{user}/mailboxes/{inbox}/messages/{uid}").status_code == 200
        (entry,) = clients[0].simulate_get(f"/api/users/{user}/archived/messages").json["results"]
        path = f"/api/users/{user}/archived/messages/{entry['id']}/restore"
        assert at_once(each(clients, lambda c, path=path: c.simulate_post(path, json={}))) == [200, 404]

    listed = clients[1].simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages", params={"limit": 250}).json
    assert sorted(m["subject"] for m in listed["results"]) == sorted(f"back {t}" for t in range(TRIALS))
    assert folder(clients[0], user, inbox)["total"] == TRIALS
    assert clients[0].simulate_get(f"/api/users/{user}/archived/messages").json["results"] == []


def test_uploads_at_once_store_only_what_the_quota_has_room_for(clients: list[Client]) -> None:
    message = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: room\r\n\r\n" + b"x" * 1000 + b"\r\n"
    room = 3
    user = create_user(clients[0], "quota-racers", quota=room * len(message) + len(message) // 2)
    inbox = mailbox_ids(clients[0], user)["INBOX"]
    path = f"/api/users/{user}/mailboxes/{inbox}/messages"
    rfc822 = {"Content-Type": "message/rfc822"}
    requests = [lambda c=c: c.simulate_post(path, body=message, headers=rfc822) for c in clients for _ in range(4)]

    assert at_once(requests) == [200] * room + [400] * (len(requests) - room)
    assert storage(clients[1], user) == room * len(message)
    assert folder(clients[0], user, inbox)["total"] == room
    over = clients[1].simulate_post(path, body=message, headers=rfc822)
    assert over.json == {"error": "User is over quota", "code": "OverQuotaError"}


def test_submissions_at_once_send_only_what_the_daily_limit_has_room_for(
    clients: list[Client], workers: list[System]
) -> None:
    room = 3
    user = create_user(clients[0], "burst-sender", recipients=room)
    path = f"/api/users/{user}/submit"
    requests = [
        lambda c=c, n=n: c.simulate_post(path, json={"to": [{"address": f"r{n}@remote.test"}], "text": "hi"})
        for c in clients
        for n in range(4)
    ]

    assert at_once(requests) == [200] * room + [403] * (len(requests) - room)
    with workers[0].engine.connect() as conn:
        queued = conn.execute(select(func.count()).select_from(outbound_queue)).scalar_one()
    assert queued == room
    sent_folder = mailbox_ids(clients[1], user)["Sent Mail"]
    assert folder(clients[1], user, sent_folder)["total"] == room


def test_drafts_sent_at_once_send_only_what_the_daily_limit_has_room_for(
    clients: list[Client], workers: list[System]
) -> None:
    room = 2
    user = create_user(clients[0], "burst-drafter", recipients=room)
    paths = []
    for n in range(6):
        draft = clients[0].simulate_post(
            f"/api/users/{user}/submit", json={"isDraft": True, "to": [{"address": f"d{n}@remote.test"}]}
        )
        paths.append(
            f"/api/users/{user}/mailboxes/{draft.json['message']['mailbox']}/messages/{draft.json['message']['id']}/submit"
        )
    requests = [lambda c=clients[n % 2], p=p: c.simulate_post(p, json={}) for n, p in enumerate(paths)]

    assert at_once(requests) == [200] * room + [403] * (len(paths) - room)
    with workers[0].engine.connect() as conn:
        queued = conn.execute(select(func.count()).select_from(outbound_queue)).scalar_one()
    assert queued == room


def test_uploads_at_once_into_one_folder_from_two_workers_lose_one_race_at_most(
    clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One rerun allowed. PostgreSQL: every try holds the account's lock, so nobody saves between a command's
    # reads and its save. SQLite: a first try that read before another worker saved loses its race, and the
    # rerun holds the file's one writer from its first read to its save, so it cannot lose again.
    monkeypatch.setattr("chainmail.domain.mail.mailstore.MAILBOX_RETRIES", 1)
    user = create_user(clients[0], "first-turn")
    inbox = mailbox_ids(clients[0], user)["INBOX"]
    path = f"/api/users/{user}/mailboxes/{inbox}/messages"
    rfc822 = {"Content-Type": "message/rfc822"}
    requests = [
        lambda c=c, n=n: c.simulate_post(path, body=f"Subject: at once {n}\r\n\r\nhi\r\n".encode(), headers=rfc822)
        for n in range(12)
        for c in clients
    ]

    for _ in range(3):
        assert at_once(requests) == [200] * len(requests)
    listed = clients[1].simulate_get(path, params={"limit": 250}).json["results"]
    assert sorted(m["id"] for m in listed) == list(range(1, 3 * len(requests) + 1))
    assert folder(clients[0], user, inbox)["total"] == 3 * len(requests)


def test_mail_delivered_at_once_forwards_only_what_the_daily_forward_limit_has_room_for(
    clients: list[Client], workers: list[System]
) -> None:
    room = 3
    user = create_user(clients[0], "busy-forwarder", targets=["elsewhere@remote.test"], forwards=room)
    address = clients[0].simulate_get(f"/api/users/{user}").json["address"]
    recipient = resolve_recipient(workers[0], address)
    assert recipient is not None
    inbound = [Inbound(w) for w in workers]
    received: list[Received] = []

    def deliver(n: int) -> Callable[[], Any]:
        raw = f"From: a@remote.test\r\nTo: {address}\r\nSubject: at once {n}\r\n\r\nhi\r\n".encode()
        return lambda: received.append(inbound[n % 2].receive("a@remote.test", recipient, address, raw))

    start = threading.Barrier(8)
    threads = [threading.Thread(target=lambda d=deliver(n): (start.wait(), d())) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(received) == 8 and all(r.uid is not None for r in received)  # every message is kept
    assert sum(r.forward_queue_id is not None for r in received) == room  # and only `room` are forwarded
    with workers[1].engine.connect() as conn:
        forwards = conn.execute(
            select(func.count()).select_from(outbound_queue).where(outbound_queue.c.reason == "forward")
        ).scalar_one()
    assert forwards == room
    assert folder(clients[1], user, mailbox_ids(clients[1], user)["INBOX"])["total"] == 8


def test_folders_created_at_once_pass_the_mailbox_limit_by_one_folder_as_one_at_a_time_would(
    clients: list[Client],
) -> None:
    # As WildDuck, a creation is refused once the account has more folders than `const:max:mailboxes`: one
    # at a time, the account ends with the limit and one more. Eight at once from two workers must end the same.
    user = create_user(clients[0], "folder-racers")
    most = len(mailbox_ids(clients[0], user))
    assert clients[0].simulate_post("/api/settings/const:max:mailboxes", json={"value": most}).status_code == 200
    path = f"/api/users/{user}/mailboxes"
    requests = [
        lambda c=c, w=w, n=n: c.simulate_post(path, json={"path": f"Folder {w}.{n}"})
        for w, c in enumerate(clients)
        for n in range(4)
    ]

    assert at_once(requests) == [200] + [400] * 7
    assert len(mailbox_ids(clients[1], user)) == most + 1


def test_filters_created_at_once_stay_within_the_filter_limit(clients: list[Client]) -> None:
    user = create_user(clients[0], "filter-racers")
    assert clients[0].simulate_post("/api/settings/const:max:filters", json={"value": 3}).status_code == 200
    path = f"/api/users/{user}/filters"
    requests = [
        lambda c=c, w=w, n=n: c.simulate_post(path, json={"query": {"from": f"p{w}.{n}"}, "action": {"seen": True}})
        for w, c in enumerate(clients)
        for n in range(4)
    ]

    assert at_once(requests) == [200] * 3 + [403] * 5
    listed = clients[1].simulate_get(path).json
    assert listed["limits"] == {"allowed": 3, "used": 3}
    refused = clients[0].simulate_post(path, json={"query": {"from": "late"}, "action": {"seen": True}})
    assert refused.json == {"error": "Maximum filters limit reached", "code": "TooMany", "allowed": 3}


def test_forwards_without_a_limit_of_their_own_stop_at_the_administrators_daily_limit(
    clients: list[Client], workers: list[System]
) -> None:
    # an account and a forwarded address that set no `forwards`: `const:max:forwards` is their daily limit
    assert clients[0].simulate_post("/api/settings/const:max:forwards", json={"value": 2}).status_code == 200
    user = create_user(clients[0], "plain-forwarder", targets=["elsewhere@remote.test"])
    account = clients[0].simulate_get(f"/api/users/{user}").json["address"]
    made = clients[0].simulate_post(
        "/api/addresses/forwarded", json={"address": "relay@example.com", "targets": ["far@remote.test"]}
    )
    assert made.status_code == 200, made.text
    shown = clients[1].simulate_get(f"/api/addresses/forwarded/{made.json['id']}").json
    assert shown["limits"]["forwards"]["allowed"] == 2
    for address in (account, "relay@example.com"):
        recipient = resolve_recipient(workers[0], address)
        assert recipient is not None
        received = [
            Inbound(workers[n % 2]).receive(
                "a@remote.test", recipient, address, f"From: a@remote.test\r\nSubject: {n}\r\n\r\nhi\r\n".encode()
            )
            for n in range(4)
        ]
        assert [r.forward_queue_id is not None for r in received] == [True, True, False, False], address
