"""Audits: an auditor exports a user's messages of a time window (live and archived) as mbox."""

from __future__ import annotations

import mailbox
from pathlib import Path

import falcon.testing

from chainmail.http.app import create_app
from chainmail.http.auth import Principal
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.mail_support import create_user, mailbox_ids, upload

AUDITOR = "a" * 40


def auditor_client(system: System) -> falcon.testing.TestClient:
    def resolve(token: str) -> Principal | None:
        return Principal(role="audit", user="auditor", token=token) if token == AUDITOR else None

    app = create_app(system, root_token=ROOT_TOKEN, user_tokens=resolve)
    return falcon.testing.TestClient(app, headers={"X-Access-Token": AUDITOR})


def test_an_audit_exports_the_window_as_mbox(client: falcon.testing.TestClient, system: System, tmp_path: Path) -> None:
    user = create_user(client, "audited")
    inbox = mailbox_ids(client, user)["INBOX"]
    upload(client, user, inbox, subject="too early", date="2025-01-01T00:00:00Z")
    upload(client, user, inbox, subject="From the window", text="From here on\nbody", date="2026-03-01T00:00:00Z")
    upload(client, user, inbox, subject="deleted in window", date="2026-04-01T00:00:00Z")
    client.simulate_delete(f"/api/users/{user}/mailboxes/{inbox}/messages/3")
    auditor = auditor_client(system)

    denied = client.simulate_post("/api/audit", json={"user": user, "expires": "2100-01-01T00:00:00Z"})
    created = auditor.simulate_post(
        "/api/audit",
        json={"user": user, "start": "2026-01-01T00:00:00Z", "end": False, "expires": "2100-01-01T00:00:00Z"},
    )

    assert denied.status_code == 403 and denied.json["code"] == "MissingPrivileges"  # root has no audit grant
    assert created.status_code == 200, created.text
    audit = created.json["id"]
    info = auditor.simulate_get(f"/api/audit/{audit}").json
    assert info == {
        "success": True,
        "id": audit,
        "user": user,
        "start": "2026-01-01T00:00:00.000Z",
        "end": False,
        "expires": "2100-01-01T00:00:00.000Z",
        "import": {"status": "imported", "failed": 0, "copied": 2},
    }
    exported = auditor.simulate_get(f"/api/audit/{audit}/export.mbox")
    assert exported.headers["content-disposition"] == "attachment; filename=export.mbox"
    path = tmp_path / "export.mbox"
    path.write_bytes(exported.content)
    subjects = [m["subject"] for m in mailbox.mbox(path)]
    assert subjects == ["From the window", "deleted in window"]
    assert b"\n>From here on" in exported.content


def test_audit_bad_input(client: falcon.testing.TestClient, system: System) -> None:
    auditor = auditor_client(system)
    user = create_user(client, "auditbad")

    past = auditor.simulate_post("/api/audit", json={"user": user, "expires": "2001-01-01T00:00:00Z"})
    missing = auditor.simulate_post("/api/audit", json={"user": user})
    nobody = auditor.simulate_post("/api/audit", json={"user": "0" * 24, "expires": "2100-01-01T00:00:00Z"})
    unknown = auditor.simulate_get(f"/api/audit/{'0' * 24}")

    assert past.status_code == 400 and missing.status_code == 400
    assert nobody.status_code == 404 and nobody.json["code"] == "UserNotFound"
    assert unknown.status_code == 404 and unknown.json == {"error": "Audit not found", "code": "AuditNotFoundError"}
