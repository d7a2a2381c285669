"""Mailbox routes as a WildDuck client sees them: ordering, counters, path rules, rename and delete rules."""

from __future__ import annotations

import falcon.testing

from chainmail.http.app import create_app
from chainmail.http.auth import Principal
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.mail_support import create_user, mailbox_ids, upload


def test_mailboxes_list_inbox_first_then_case_insensitive_order(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "orderly")
    for path in ("coolpath/abcda", "cool2/sub", "path/to/x", "Zeta", "alpha"):
        assert client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": path}).status_code == 200

    listed = client.simulate_get(f"/api/users/{user}/mailboxes").json

    assert [m["path"] for m in listed["results"]] == [
        "INBOX",
        "alpha",
        "cool2/sub",
        "coolpath/abcda",
        "Drafts",
        "Junk",
        "path/to/x",
        "Sent Mail",
        "Trash",
        "Zeta",
    ]
    inbox, alpha = listed["results"][0], listed["results"][1]
    assert "specialUse" not in inbox and inbox["name"] == "INBOX" and inbox["modifyIndex"] == 0
    assert inbox["subscribed"] is True and inbox["hidden"] is False and inbox["encryptMessages"] is False
    assert "total" not in alpha and "size" not in alpha
    assert listed["results"][-2]["specialUse"] == "\\Trash"


def test_special_use_filter_keeps_inbox_and_special_folders(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "special")
    client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Other"})

    listed = client.simulate_get(f"/api/users/{user}/mailboxes", params={"specialUse": "true"}).json

    assert [m["path"] for m in listed["results"]] == ["INBOX", "Drafts", "Junk", "Sent Mail", "Trash"]
    assert client.simulate_get(f"/api/users/{user}/mailboxes", params={"specialUse": "what"}).status_code == 400


def test_counters_and_sizes_count_stored_messages(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "counting")
    inbox = mailbox_ids(client, user)["INBOX"]
    upload(client, user, inbox, subject="one")
    upload(client, user, inbox, subject="two", seen=True)

    listed = client.simulate_get(f"/api/users/{user}/mailboxes", params={"counters": "true", "sizes": "yes"}).json
    got = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}").json

    first = listed["results"][0]
    assert first["total"] == 2 and first["unseen"] == 1 and first["size"] > 0
    assert got["total"] == 2 and got["unseen"] == 1 and got["modifyIndex"] == 2


def test_hidden_mailboxes_are_listed_only_when_asked(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "hider")
    created = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "/secret/", "hidden": True})
    assert created.status_code == 400  # a trailing slash fails Joi's pattern
    created = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "/secret", "hidden": True})
    assert created.status_code == 200

    plain = client.simulate_get(f"/api/users/{user}/mailboxes").json["results"]
    everything = client.simulate_get(f"/api/users/{user}/mailboxes", params={"showHidden": True}).json["results"]

    assert "secret" not in [m["path"] for m in plain]
    assert next(m for m in everything if m["path"] == "secret")["hidden"] is True


def test_create_refuses_bad_paths_in_joi_words(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "paths")
    url = f"/api/users/{user}/mailboxes"

    double = client.simulate_post(url, json={"path": "somepath/abc/"})
    deep = client.simulate_post(url, json={"path": "/".join(["a"] * 129)})
    long = client.simulate_post(url, json={"path": "x" * 513})
    unknown = client.simulate_post(url, json={"path": "ok", "color": "red"})
    not_a_string = client.simulate_post(url, json={"path": 12})

    assert double.json["error"] == '"path" with value "somepath/abc/" matches the inverted pattern: /\\/{2,}|\\/$/'
    assert deep.json["error"] == "The mailbox path cannot be more than 128 levels deep"
    assert long.json["error"] == "Any part of the mailbox path cannot be longer than 512 chars long"
    assert unknown.json["code"] == "InputValidationError" and unknown.json["error"] == '"color" is not allowed'
    assert not_a_string.status_code == 400


def test_a_path_can_exist_only_once_per_user(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "dupes")
    url = f"/api/users/{user}/mailboxes"
    assert client.simulate_post(url, json={"path": "Work"}).status_code == 200

    again = client.simulate_post(url, json={"path": "Work"})
    inbox = client.simulate_post(url, json={"path": "inbox"})

    assert again.status_code == 400 and again.json["code"] == "MailboxExistsError"
    assert inbox.status_code == 400 and inbox.json["code"] == "MailboxExistsError"


def test_get_resolves_a_mailbox_by_path(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "resolver")
    created = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "/coolpath/abcda"}).json["id"]

    resolved = client.simulate_get(f"/api/users/{user}/mailboxes/resolve", params={"path": "coolpath/abcda"})
    missing = client.simulate_get(f"/api/users/{user}/mailboxes/resolve", params={"path": "nope"})
    bad_id = client.simulate_get(f"/api/users/{user}/mailboxes/123")
    unknown_user = client.simulate_get(f"/api/users/{'0' * 24}/mailboxes/{created}")

    assert (
        resolved.json["id"] == created
        and resolved.json["name"] == "abcda"
        and resolved.json["path"] == "coolpath/abcda"
    )
    assert missing.status_code == 404 and missing.json["code"] == "NoSuchMailbox"
    assert bad_id.status_code == 400
    assert unknown_user.status_code == 404 and unknown_user.json["code"] == "UserNotFound"


def test_rename_and_hide_a_special_folder_but_never_inbox(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "renamer")
    ids = mailbox_ids(client, user)

    trash = client.simulate_put(f"/api/users/{user}/mailboxes/{ids['Trash']}", json={"path": "Bin", "hidden": True})
    inbox = client.simulate_put(f"/api/users/{user}/mailboxes/{ids['INBOX']}", json={"path": "Other"})
    nothing = client.simulate_put(f"/api/users/{user}/mailboxes/{ids['INBOX']}", json={})
    hidden_rename = client.simulate_put(f"/api/users/{user}/mailboxes/{ids['Trash']}", json={"path": "Again"})
    taken = client.simulate_put(f"/api/users/{user}/mailboxes/{ids['Junk']}", json={"path": "Drafts"})
    missing = client.simulate_put(f"/api/users/{user}/mailboxes/{'0' * 24}", json={"subscribed": False})

    assert trash.status_code == 200
    got = client.simulate_get(f"/api/users/{user}/mailboxes/{ids['Trash']}").json
    assert got["path"] == "Bin" and got["hidden"] is True and got["specialUse"] == "\\Trash"
    assert inbox.status_code == 400 and inbox.json["error"] == "Mailbox update failed with code DisallowedMailboxMethod"
    assert nothing.status_code == 400 and nothing.json["error"] == "Nothing was changed"
    assert hidden_rename.status_code == 400
    assert taken.status_code == 400 and taken.json["code"] == "MailboxExistsError"
    assert missing.status_code == 404 and missing.json["error"] == "Mailbox update failed with code NoSuchMailbox"


def test_unsubscribed_folders_sort_after_subscribed_ones(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "subscriber")
    ids = mailbox_ids(client, user)
    client.simulate_put(f"/api/users/{user}/mailboxes/{ids['Drafts']}", json={"subscribed": "false"})

    paths = [m["path"] for m in client.simulate_get(f"/api/users/{user}/mailboxes").json["results"]]

    assert paths == ["INBOX", "Junk", "Sent Mail", "Trash", "Drafts"]


def test_delete_a_folder_with_its_messages_but_not_a_special_one(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "deleter")
    ids = mailbox_ids(client, user)
    folder = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Old"}).json["id"]
    upload(client, user, folder, subject="bye")
    used = client.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"]
    assert used > 0

    deleted = client.simulate_delete(f"/api/users/{user}/mailboxes/{folder}")
    special = client.simulate_delete(f"/api/users/{user}/mailboxes/{ids['Sent Mail']}")
    inbox = client.simulate_delete(f"/api/users/{user}/mailboxes/{ids['INBOX']}")
    again = client.simulate_delete(f"/api/users/{user}/mailboxes/{folder}")

    assert deleted.json == {"success": True}
    assert special.status_code == 400 and special.json["code"] == "DisallowedMailboxMethod"
    assert inbox.status_code == 400
    assert again.status_code == 404 and again.json["error"] == "Mailbox deletion failed with code NoSuchMailbox"
    assert client.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"] == 0
    # the path is free again
    assert client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Old"}).status_code == 200


def test_a_user_token_reaches_only_its_own_mail(system: System) -> None:
    root = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})
    alice, bob = create_user(root, "alice"), create_user(root, "bob")
    tokens = {"a" * 40: Principal(role="user", user=alice, token="a" * 40)}
    as_alice = falcon.testing.TestClient(
        create_app(system, root_token=ROOT_TOKEN, user_tokens=tokens.get), headers={"X-Access-Token": "a" * 40}
    )
    bob_inbox = mailbox_ids(root, bob)["INBOX"]

    own = as_alice.simulate_get(f"/api/users/{alice}/mailboxes")
    me = as_alice.simulate_get("/api/users/me/mailboxes")
    other = as_alice.simulate_get(f"/api/users/{bob}/mailboxes/{bob_inbox}/messages")
    upload_other = as_alice.simulate_post(f"/api/users/{bob}/mailboxes/{bob_inbox}/messages", json={"text": "x"})

    assert own.status_code == 200 and me.json == own.json
    assert other.status_code == 403 and other.json["code"] == "MissingPrivileges"
    assert upload_other.status_code == 403


def test_the_mailbox_count_limit_is_the_administrators_setting(client: falcon.testing.TestClient) -> None:
    user = create_user(client, "folder-hoarder")
    assert len(mailbox_ids(client, user)) == 5
    assert client.simulate_post("/api/settings/const:max:mailboxes", json={"value": 7}).status_code == 200

    for n in range(3):  # as WildDuck: refused once the account has more folders than the limit
        created = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": f"Folder {n}"})
        assert created.status_code == 200, created.text
    refused = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "One too many"})

    assert refused.status_code == 400
    assert refused.json == {
        "error": "Mailbox creation failed with code ReachedMailboxCountLimit. Max mailboxes count reached.",
        "code": "DisallowedMailboxMethod",
    }
    assert len(mailbox_ids(client, user)) == 8
