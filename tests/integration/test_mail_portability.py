"""The mail part of moving accounts: `POST /data/export` carries an account's folders and messages (raw
bytes, flags, internal dates, metadata) and `POST /data/import` stores them again in another store:
new message ids, UIDs handed out by the target folders, byte-identical raw bodies."""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.http.auth import Principal
from chainmail.system import System
from tests.conftest import _admin, _pg_url
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.mail_support import create_user, mailbox_ids

EXPORT_TOKEN = "e" * 40

PLAIN = b"From: Ann <ann@example.org>\r\nTo: mover@example.com\r\nSubject: plain\r\nMessage-ID: <p1@x>\r\n\r\nhi\r\n"
LATIN1 = (
    b"From: b@example.org\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\nd\xe9j\xe0 vu \xff\r\n"
)
WITH_FILE = (
    b"From: c@example.org\r\nSubject: Re: plain\r\nIn-Reply-To: <p1@x>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee file\r\n'
    b'--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="data.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(bytes(range(256)) * 40) + b"--b1--\r\n"
)


def exporter(system: System) -> falcon.testing.TestClient:
    tokens = {EXPORT_TOKEN: Principal(role="export", user="export", token=EXPORT_TOKEN)}
    return falcon.testing.TestClient(
        create_app(system, user_tokens=tokens.get), headers={"X-Access-Token": EXPORT_TOKEN}
    )


@pytest.fixture
def other_system(database_url: str, tmp_path: Path, sqlite_template: Path, pg_template: str | None) -> Iterator[System]:
    """A second, empty store of the same kind to import into."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "other.sqlite"
        shutil.copy(sqlite_template, path)
        url, drop = f"sqlite:///{path}", None
    else:
        assert pg_template is not None
        drop = f"chainmail_o_{uuid.uuid4().hex[:12]}"
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{drop}" TEMPLATE "{pg_template}"')
        url = _pg_url(drop)
    system = System(Settings(database_url=url, api_access_token=ROOT_TOKEN, email_domain="example.com"))
    yield system
    system.close()
    if drop:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')


def post_raw(client: falcon.testing.TestClient, user: str, mailbox: str, raw: bytes, **params: Any) -> int:
    result = client.simulate_post(
        f"/api/users/{user}/mailboxes/{mailbox}/messages",
        body=raw,
        params=params,
        headers={"Content-Type": "message/rfc822"},
    )
    assert result.status_code == 200, result.text
    return int(result.json["message"]["id"])


def folder_view(client: falcon.testing.TestClient, user: str) -> dict[str, list[dict[str, Any]]]:
    """Per folder path, its messages as a client sees them, with their raw bytes and attachments."""
    view: dict[str, list[dict[str, Any]]] = {}
    for path, folder in mailbox_ids(client, user).items():
        listed = client.simulate_get(f"/api/users/{user}/mailboxes/{folder}/messages", params={"order": "asc"})
        items = []
        for m in listed.json["results"]:
            base = f"/api/users/{user}/mailboxes/{folder}/messages/{m['id']}"
            full = client.simulate_get(base).json
            items.append(
                {
                    "uid": m["id"],
                    "subject": m["subject"],
                    "flags": (m["seen"], m["flagged"], m["draft"], m["deleted"]),
                    "idate": m["idate"],
                    "metaData": full["metaData"],
                    "raw": client.simulate_get(f"{base}/message.eml").content,
                    "files": [
                        client.simulate_get(f"{base}/attachments/{a['id']}").content for a in full["attachments"]
                    ],
                }
            )
        view[path] = items
    return view


def test_an_accounts_mail_moves_to_another_store_byte_for_byte(
    client: falcon.testing.TestClient, system: System, other_system: System
) -> None:
    user = create_user(client, "mover", tags=["move"])
    ids = mailbox_ids(client, user)
    projects = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Projects/2026"}).json["id"]
    client.simulate_put(f"/api/users/{user}/mailboxes/{projects}", json={"subscribed": False})
    post_raw(client, user, ids["INBOX"], PLAIN)
    post_raw(client, user, ids["INBOX"], LATIN1)
    post_raw(client, user, projects, WITH_FILE)
    client.simulate_put(
        f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages/1",
        json={"seen": True, "flagged": True, "metaData": {"label": "vip"}},
    )
    client.simulate_delete(f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages/2")  # archived: stays behind
    post_raw(client, user, ids["Drafts"], LATIN1, draft="true")
    before = folder_view(client, user)
    used = client.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"]

    exported = exporter(system).simulate_post("/api/data/export", json={"users": [user]})
    lines = [json.loads(line) for line in exported.text.splitlines()]

    assert [line.get("collection") for line in lines] == [None, "users", "messages", "messages", "messages"]
    assert {f["path"] for f in lines[1]["mailboxes"]} == set(ids) | {"Projects/2026"}
    importer = exporter(other_system)
    imported = importer.simulate_post("/api/data/import", body=exported.content)
    assert imported.json == {"success": True, "entries": 4, "imported": 4, "failed": 0, "existing": 0}

    there = falcon.testing.TestClient(create_app(other_system), headers={"X-Access-Token": ROOT_TOKEN})
    after = folder_view(there, user)
    assert after == before  # same folders, UIDs, flags, dates, metadata; raw bytes and attachments identical
    assert after["Projects/2026"][0]["raw"] == WITH_FILE and after["INBOX"][0]["raw"] == PLAIN
    assert after["Drafts"][0]["raw"] == LATIN1
    moved_folder = there.simulate_get(f"/api/users/{user}/mailboxes/{mailbox_ids(there, user)['Projects/2026']}").json
    assert moved_folder["subscribed"] is False
    assert there.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"] == used
    # the reply is threaded with its parent again in the new store
    inbox_there = there.simulate_get(f"/api/users/{user}/mailboxes/{mailbox_ids(there, user)['INBOX']}/messages")
    projects_there = there.simulate_get(
        f"/api/users/{user}/mailboxes/{mailbox_ids(there, user)['Projects/2026']}/messages"
    )
    assert inbox_there.json["results"][0]["thread"] == projects_there.json["results"][0]["thread"]

    again = importer.simulate_post("/api/data/import", body=exported.content)
    assert again.json == {"success": True, "entries": 4, "imported": 0, "failed": 0, "existing": 4}
    assert folder_view(there, user) == before


def test_broken_message_lines_fail_alone(
    client: falcon.testing.TestClient, system: System, other_system: System
) -> None:
    user = create_user(client, "partly")
    post_raw(client, user, mailbox_ids(client, user)["INBOX"], PLAIN)
    exported = exporter(system).simulate_post("/api/data/export", json={"users": [user]}).content
    header, account, message = exported.splitlines()
    entry = json.loads(message)
    bad_base64 = json.dumps({**entry, "entry": {**entry["entry"], "raw": "%%%"}}).encode()
    bad_date = json.dumps({**entry, "entry": {**entry["entry"], "idate": "yesterday"}}).encode()
    stranger = json.dumps({**entry, "user": "0123456789abcdef01234567"}).encode()
    body = b"\n".join([header, account, message, bad_base64, bad_date, stranger, b"[1, 2]", b"{}"]) + b"\n"

    imported = exporter(other_system).simulate_post("/api/data/import", body=body)

    assert imported.status_code == 200
    assert imported.json == {"success": True, "entries": 7, "imported": 2, "failed": 5, "existing": 0}
    there = falcon.testing.TestClient(create_app(other_system), headers={"X-Access-Token": ROOT_TOKEN})
    listed = there.simulate_get(f"/api/users/{user}/mailboxes/{mailbox_ids(there, user)['INBOX']}/messages").json
    assert listed["total"] == 1


def test_folders_an_import_file_describes_badly_are_left_out_and_the_account_still_imports(
    client: falcon.testing.TestClient, system: System, other_system: System
) -> None:
    user = create_user(client, "oddfolders")
    client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Kept"})
    exported = exporter(system).simulate_post("/api/data/export", json={"users": [user]}).content
    header, account = exported.splitlines()
    entry = json.loads(account)
    entry["mailboxes"] += [{"path": "Odd", "retention": "soon"}, {"path": "Odder", "retention": [30]}]
    body = b"\n".join([header, json.dumps(entry).encode()]) + b"\n"

    imported = exporter(other_system).simulate_post("/api/data/import", body=body)

    assert imported.status_code == 200
    assert imported.json == {"success": True, "entries": 1, "imported": 1, "failed": 0, "existing": 0}
    there = falcon.testing.TestClient(create_app(other_system), headers={"X-Access-Token": ROOT_TOKEN})
    paths = set(mailbox_ids(there, user))
    assert "Kept" in paths and not {"Odd", "Odder"} & paths


def test_account_lines_with_fields_of_the_wrong_type_import_or_fail_alone(
    client: falcon.testing.TestClient, system: System, other_system: System
) -> None:
    """Found by fuzzing, each of these answered 500 and ended the import: a profile's language that is not
    text (the account imports with the default folder names), folders that are not a list (the line fails
    alone), a folder whose special use is not text (the folder is created as a plain one)."""
    users = [create_user(client, name) for name in ("wrongtype1", "wrongtype2", "wrongtype3")]
    exported = exporter(system).simulate_post("/api/data/export", json={"users": users}).content
    header, *lines = exported.splitlines()
    language, folders, special_use = (json.loads(line) for line in lines)
    language["entry"]["profile"] = {**(language["entry"].get("profile") or {}), "language": True}
    folders["mailboxes"] = True
    special_use["mailboxes"] += [{"path": "Odd", "specialUse": [None]}]
    body = b"\n".join([header, *(json.dumps(line).encode() for line in (language, folders, special_use))]) + b"\n"

    imported = exporter(other_system).simulate_post("/api/data/import", body=body)

    assert imported.status_code == 200, imported.text
    assert imported.json == {"success": True, "entries": 3, "imported": 2, "failed": 1, "existing": 0}
    there = falcon.testing.TestClient(create_app(other_system), headers={"X-Access-Token": ROOT_TOKEN})
    assert "Odd" in mailbox_ids(there, special_use["entry"]["id"])
    assert "INBOX" in mailbox_ids(there, language["entry"]["id"])
