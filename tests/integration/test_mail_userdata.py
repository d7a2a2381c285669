"""Stored files, filters (and their effect on delivery) and the autoreply, as a WildDuck client sees them."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import falcon.testing

from chainmail.mail.store import MailStore
from chainmail.system import System
from tests.integration.mail_support import create_user, mailbox_ids


def test_files_upload_list_download_delete(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "filer")
    url = f"/api/users/{user}/storage"
    content = b"\x00\x01binary\xff" * 100

    first = client.simulate_post(
        url,
        json={
            "filename": "b.bin",
            "contentType": "application/x-test",
            "encoding": "base64",
            "content": base64.b64encode(content).decode(),
        },
    )
    second = client.simulate_post(url, json={"filename": "a.txt", "content": "plain text", "cid": "c1@x"})
    broken = client.simulate_post(url, json={"encoding": "base64", "content": "@@@"})
    missing = client.simulate_post(url, json={"filename": "x"})

    assert first.status_code == 200 and len(first.json["id"]) == 24
    assert broken.status_code == 400 and missing.status_code == 400
    listed = client.simulate_get(url).json
    assert [f["filename"] for f in listed["results"]] == ["a.txt", "b.bin"] and listed["total"] == 2
    b = listed["results"][1]
    assert (
        b["size"] == len(content)
        and b["md5"] == hashlib.md5(content).hexdigest()
        and b["contentType"] == "application/x-test"
    )
    assert listed["results"][0]["cid"] == "c1@x"
    page = client.simulate_get(url, params={"limit": 1}).json
    assert (
        client.simulate_get(url, params={"limit": 1, "next": page["nextCursor"]}).json["results"][0]["filename"]
        == "b.bin"
    )
    assert [f["filename"] for f in client.simulate_get(url, params={"query": "TXT"}).json["results"]] == ["a.txt"]
    downloaded = client.simulate_get(f"{url}/{first.json['id']}")
    assert downloaded.content == content and downloaded.headers["content-type"] == "application/x-test"
    assert client.simulate_delete(f"{url}/{second.json['id']}").json == {"success": True}
    gone = client.simulate_get(f"{url}/{second.json['id']}")
    assert gone.status_code == 404 and gone.json["code"] == "FileNotFound"
    assert client.simulate_get(url).json["total"] == 1


def test_autoreply_defaults_put_and_delete(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "vacation")
    url = f"/api/users/{user}/autoreply"

    empty = client.simulate_get(url).json
    put = client.simulate_put(
        url, json={"status": True, "subject": "Away", "text": "Back soon", "start": "2026-12-01T00:00:00Z"}
    )
    got = client.simulate_get(url).json
    partial = client.simulate_put(url, json={"end": "2026-12-24T00:00:00Z", "start": False})
    after = client.simulate_get(url).json
    bad = client.simulate_put(url, json={"start": "someday"})

    assert empty == {
        "success": True,
        "status": False,
        "name": "",
        "subject": "",
        "text": "",
        "html": "",
    }  # start, end and created are left out while unset, as WildDuck leaves them undefined
    assert put.status_code == 200 and len(put.json["id"]) == 24
    assert got["status"] is True and got["subject"] == "Away" and got["start"] == "2026-12-01T00:00:00.000Z"
    created = datetime.fromisoformat(got["created"].replace("Z", "+00:00"))
    assert got["created"].endswith(".000Z") and abs((datetime.now(UTC) - created).total_seconds()) < 5
    assert partial.json["id"] == put.json["id"]
    assert after["subject"] == "Away" and "start" not in after and after["end"] == "2026-12-24T00:00:00.000Z"
    assert bad.status_code == 400
    assert client.simulate_delete(url).json == {"success": True}
    assert client.simulate_get(url).json["status"] is False


def test_the_account_shows_whether_its_autoreply_is_switched_on(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "outofoffice")
    url = f"/api/users/{user}/autoreply"

    def shown() -> tuple[bool, bool]:
        listed = client.simulate_get("/api/users", params={"query": "outofoffice"}).json["results"]
        return client.simulate_get(f"/api/users/{user}").json["autoreply"], listed[0]["autoreply"]

    assert shown() == (False, False)
    client.simulate_put(url, json={"status": True, "subject": "Away", "start": "2099-01-01T00:00:00Z"})
    assert shown() == (True, True)  # as WildDuck: the switch, even before the window opens
    client.simulate_put(url, json={"subject": "Still away"})  # no status given: unchanged
    assert shown() == (True, True)
    client.simulate_put(url, json={"status": False})
    assert shown() == (False, False)
    client.simulate_put(url, json={"status": True})
    client.simulate_delete(url)
    assert shown() == (False, False)


def test_an_account_without_a_filter_limit_of_its_own_has_the_administrators(
    client: falcon.testing.TestClient,
) -> None:
    user = create_user(client, "default-filters")
    url = f"/api/users/{user}/filters"
    assert client.simulate_post("/api/settings/const:max:filters", json={"value": 1}).status_code == 200
    assert client.simulate_get(f"/api/users/{user}").json["limits"]["filters"]["allowed"] == 1

    first = client.simulate_post(url, json={"query": {"subject": "x"}, "action": {"flag": True}})
    second = client.simulate_post(url, json={"query": {"subject": "y"}, "action": {"flag": True}})

    assert first.status_code == 200
    assert second.status_code == 403 and second.json["code"] == "TooMany" and second.json["allowed"] == 1
    assert client.simulate_get(url).json["limits"] == {"allowed": 1, "used": 1}
    assert client.simulate_get("/api/users/" + "0" * 24 + "/filters").status_code == 404


def test_filters_crud_with_descriptions_and_limits(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "filterowner", filters=2)
    ids = mailbox_ids(client, user)
    url = f"/api/users/{user}/filters"

    created = client.simulate_post(
        url,
        json={
            "name": "Lists",
            "query": {"from": "boss", "ha": True, "size": -1000},
            "action": {
                "seen": True,
                "mailbox": ids["Junk"],
                "targets": ["fwd@example.org", "https://hooks.example.net/x"],
            },
        },
    )
    client.simulate_post(url, json={"query": {"subject": "x"}, "action": {"flag": True}, "disabled": True})
    third = client.simulate_post(url, json={"query": {"subject": "y"}, "action": {"flag": True}})
    unknown_box = client.simulate_post(
        f"/api/users/{create_user(client, 'other')}/filters", json={"action": {"mailbox": "0" * 24}}
    )

    assert created.status_code == 200
    assert third.status_code == 403 and third.json == {
        "error": "Maximum filters limit reached",
        "code": "TooMany",
        "allowed": 2,
    }
    assert unknown_box.status_code == 404
    listed = client.simulate_get(url).json
    assert listed["limits"] == {"allowed": 2, "used": 2}
    first = listed["results"][0]
    assert first["query"] == [["from", "(boss)"], ["has attachment"], ["smaller", 1000]]
    assert first["action"] == [
        ["mark as read"],
        ["move to folder", '"Junk"'],
        ["forward to", "fwd@example.org, hooks.example.net"],
    ]
    one = client.simulate_get(f"{url}/{created.json['id']}").json
    assert one["query"] == {"from": "boss", "ha": True, "size": -1000}
    assert (
        one["action"]["targets"] == ["fwd@example.org", "https://hooks.example.net/x"]
        and one["action"]["mailbox"] == ids["Junk"]
    )
    assert client.simulate_put(f"{url}/{created.json['id']}", json={"disabled": True, "name": "Renamed"}).json == {
        "success": True
    }
    assert client.simulate_get(f"{url}/{created.json['id']}").json["name"] == "Renamed"
    everyone = client.simulate_get("/api/filters", params={"forward": "fwd@"}).json
    assert everyone["total"] == 1 and everyone["results"][0]["user"] == user
    assert client.simulate_delete(f"{url}/{created.json['id']}").json == {"success": True}
    assert client.simulate_get(f"{url}/{created.json['id']}").json["code"] == "FilterNotFound"
    assert client.simulate_post(url, json={"query": {"color": "red"}}).status_code == 400


def test_filters_decide_where_delivered_mail_goes(client: falcon.testing.TestClient, system: System) -> None:
    user = create_user(client, "delivery")
    ids = mailbox_ids(client, user)
    work = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Work"}).json["id"]
    url = f"/api/users/{user}/filters"
    client.simulate_post(url, json={"query": {"from": "boss@corp.example"}, "action": {"mailbox": work, "flag": True}})
    client.simulate_post(url, json={"query": {"subject": "viagra"}, "action": {"spam": True}})
    client.simulate_post(url, json={"query": {"text": "unsubscribe me"}, "action": {"delete": True}})
    client.simulate_post(
        url, json={"query": {"to": "list@corp"}, "action": {"seen": True, "targets": ["copy@example.org"]}}
    )
    store = MailStore(system)

    def mail(sender: str, subject: str, body: str = "hi", to: str = "delivery@example.com") -> bytes:
        return f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()

    boss = store.deliver(user, mail("Boss <boss@corp.example>", "report"))
    spam = store.deliver(user, mail("x@spam.example", "cheap VIAGRA"))
    dropped = store.deliver(user, mail("news@example.net", "news", "click to unsubscribe me"))
    listed = store.deliver(user, mail("a@corp.example", "list post", to="list@corp.example"))
    plain = store.deliver(user, mail("friend@example.org", "hello"))

    assert boss.stored is not None and boss.stored.mailbox == work
    assert spam.stored is not None and spam.stored.mailbox == ids["Junk"]
    assert dropped.stored is None and len(dropped.outcome.matched) == 1
    assert listed.stored is not None and listed.outcome.targets == [{"type": "mail", "value": "copy@example.org"}]
    assert plain.stored is not None and plain.stored.mailbox == ids["INBOX"] and plain.outcome.matched == []
    in_work = client.simulate_get(f"/api/users/{user}/mailboxes/{work}/messages").json["results"]
    assert [(m["subject"], m["flagged"], m["seen"]) for m in in_work] == [("report", True, False)]
    inbox = client.simulate_get(f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages").json["results"]
    assert sorted((m["subject"], m["seen"]) for m in inbox) == [("hello", False), ("list post", True)]


def test_an_upload_attaches_stored_files(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "attacher")
    inbox = mailbox_ids(client, user)["INBOX"]
    file_id = client.simulate_post(
        f"/api/users/{user}/storage", json={"filename": "notes.txt", "contentType": "text/plain", "content": "my notes"}
    ).json["id"]

    stored = client.simulate_post(
        f"/api/users/{user}/mailboxes/{inbox}/messages",
        json={"subject": "with file", "text": "see", "files": [file_id]},
    )
    missing = client.simulate_post(
        f"/api/users/{user}/mailboxes/{inbox}/messages", json={"text": "see", "files": ["0" * 24]}
    )

    assert stored.status_code == 200, stored.text
    attachments = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages/1").json["attachments"]
    assert [(a["filename"], a["contentType"]) for a in attachments] == [("notes.txt", "text/plain")]
    content = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages/1/attachments/ATT00001").content
    assert content == b"my notes"
    assert missing.status_code == 404 and missing.json["code"] == "FileNotFound"


def test_delivery_reports_the_autoreply_inside_its_window(client: falcon.testing.TestClient, system: System) -> None:
    user = create_user(client, "away")
    store = MailStore(system)
    raw = b"From: someone@example.org\r\nSubject: hi\r\n\r\nhello\r\n"

    before = store.deliver(user, raw)
    client.simulate_put(f"/api/users/{user}/autoreply", json={"status": True, "subject": "Away", "text": "later"})
    during = store.deliver(user, raw)
    client.simulate_put(f"/api/users/{user}/autoreply", json={"end": "2020-01-01T00:00:00Z"})
    after_window = store.deliver(user, raw)

    assert before.autoreply is None
    assert during.autoreply == {"name": "", "subject": "Away", "text": "later", "html": ""}
    assert after_window.autoreply is None
