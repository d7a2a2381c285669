"""Deleted messages go to the archive, where they can be listed and restored (one by one or by date)."""

from __future__ import annotations

import falcon.testing

from tests.integration.mail_support import create_user, mailbox_ids, upload


def test_deleted_messages_are_archived_and_restorable(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "archivist")
    ids = mailbox_ids(client, user)
    folder = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Keep"}).json["id"]
    upload(client, user, ids["INBOX"], subject="first")
    upload(client, user, folder, subject="second")
    size = client.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"]
    client.simulate_delete(f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages/1")
    client.simulate_delete(f"/api/users/{user}/mailboxes/{folder}/messages/1")

    listed = client.simulate_get(f"/api/users/{user}/archived/messages").json

    assert listed["total"] == 2 and [m["subject"] for m in listed["results"]] == ["second", "first"]
    archived_id = listed["results"][1]["id"]
    assert len(archived_id) == 24 and listed["results"][1]["mailbox"] == ids["INBOX"]
    restored = client.simulate_post(f"/api/users/{user}/archived/messages/{archived_id}/restore")
    assert restored.json == {"success": True, "mailbox": ids["INBOX"], "id": 2}
    assert client.simulate_get(f"/api/users/{user}/archived/messages").json["total"] == 1
    again = client.simulate_post(f"/api/users/{user}/archived/messages/{archived_id}/restore")
    assert again.status_code == 404 and again.json["code"] == "MessageNotFound"
    inbox = client.simulate_get(f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages").json["results"]
    assert [(m["id"], m["subject"]) for m in inbox] == [(2, "first")]

    # the folder of the other one is gone: a range restore puts it in INBOX
    client.simulate_delete(f"/api/users/{user}/mailboxes/{folder}")
    ranged = client.simulate_post(
        f"/api/users/{user}/archived/restore", json={"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
    )
    assert ranged.status_code == 200 and len(ranged.json["task"]) == 24
    inbox = client.simulate_get(f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages").json["results"]
    assert sorted(m["subject"] for m in inbox) == ["first", "second"]
    assert client.simulate_get(f"/api/users/{user}/archived/messages").json["total"] == 0
    assert client.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"] == size


def test_restore_into_a_chosen_mailbox_and_bad_input(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "restorer")
    ids = mailbox_ids(client, user)
    upload(client, user, ids["INBOX"], subject="gone")
    client.simulate_delete(f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages")

    by_uid = client.simulate_post(f"/api/users/{user}/archived/messages/1/restore", json={"mailbox": ids["Drafts"]})

    assert by_uid.json == {"success": True, "mailbox": ids["Drafts"], "id": 1}
    assert client.simulate_post(f"/api/users/{user}/archived/messages/abc/restore").status_code == 400
    assert client.simulate_post(f"/api/users/{user}/archived/restore", json={"start": "x"}).status_code == 400
    assert client.simulate_get(f"/api/users/{user}/archived/messages", params={"order": "up"}).status_code == 400


def test_skip_archive_deletes_for_good(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "skipper")
    inbox = mailbox_ids(client, user)["INBOX"]
    upload(client, user, inbox)

    client.simulate_delete(f"/api/users/{user}/mailboxes/{inbox}/messages", params={"skipArchive": "true"})

    assert client.simulate_get(f"/api/users/{user}/archived/messages").json["total"] == 0
