"""Moving accounts: `POST /data/export` by an export-role token, `POST /data/import` into another store."""

from __future__ import annotations

import json

import falcon.testing

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.http.auth import Principal
from chainmail.store.migrations import upgrade
from chainmail.system import System

from .test_accounts_auth import create, login

EXPORT_TOKEN = "e" * 40


def exporter(system: System) -> falcon.testing.TestClient:
    tokens = {EXPORT_TOKEN: Principal(role="export", user="export", token=EXPORT_TOKEN)}
    return falcon.testing.TestClient(
        create_app(system, user_tokens=tokens.get), headers={"X-Access-Token": EXPORT_TOKEN}
    )


def test_accounts_move_to_another_server_with_ids_passwords_and_addresses(
    client: falcon.testing.TestClient, system: System, tmp_path
) -> None:
    ann = create(client, "ann", name="Ann", tags=["move"], password="ann-password")
    client.simulate_post(f"/api/users/{ann}/addresses", json={"address": "ann.alias@example.org", "tags": ["x"]})
    create(client, "stay", tags=["keep"])

    exported = exporter(system).simulate_post("/api/data/export", json={"tags": ["MOVE"]})
    lines = [json.loads(line) for line in exported.text.splitlines()]

    assert exported.status_code == 200 and exported.headers["content-type"] == "application/octet-stream"
    assert lines[0]["type"] == "chainmail_data_export"
    assert [line["entry"]["username"] for line in lines[1:]] == ["ann"]
    assert "ann-password" not in exported.text

    url = f"sqlite:///{tmp_path / 'other.sqlite'}"
    upgrade(url)
    other = System(Settings(database_url=url, api_access_token="root2", email_domain="example.com"), create_tables=True)
    try:
        importer = exporter(other)
        body = exported.content + b'{"collection": "users", "entry": {"id": "nope"}}\n'
        imported = importer.simulate_post(
            "/api/data/import", body=body, headers={"Content-Type": "application/octet-stream"}
        )
        again = importer.simulate_post("/api/data/import", body=exported.content)
        as_root = falcon.testing.TestClient(create_app(other), headers={"X-Access-Token": "root2"})
        user = as_root.simulate_get(f"/api/users/{ann}").json
        addresses = {a["address"]: a for a in as_root.simulate_get(f"/api/users/{ann}/addresses").json["results"]}
        signed_in = login(as_root, "ann.alias@example.org", "ann-password")

        assert imported.json == {"success": True, "entries": 2, "imported": 1, "failed": 1, "existing": 0}
        assert again.json == {"success": True, "entries": 1, "imported": 0, "failed": 0, "existing": 1}
        assert (user["username"], user["name"], user["tags"], user["address"]) == (
            "ann",
            "Ann",
            ["move"],
            "ann@example.com",
        )
        assert set(addresses) == {"ann@example.com", "ann.alias@example.org"}
        assert addresses["ann@example.com"]["main"] is True and addresses["ann.alias@example.org"]["tags"] == ["x"]
        assert signed_in.status_code == 200 and signed_in.json["id"] == ann
    finally:
        other.close()


def test_only_the_export_role_moves_data(client: falcon.testing.TestClient, system: System) -> None:
    create(client, "someone")
    token = login(client, "someone", "secretvalue", token=True).json["token"]

    for headers in ({}, {"X-Access-Token": token}):
        assert client.simulate_post("/api/data/export", json={}, headers=headers).json["code"] == "MissingPrivileges"
        assert client.simulate_post("/api/data/import", body=b"x", headers=headers).json["code"] == "MissingPrivileges"
    bad = exporter(system).simulate_post("/api/data/import", body=b"not an export")
    bad_users = exporter(system).simulate_post("/api/data/export", json={"users": ["123"]})
    assert (bad.status_code, bad.json["code"]) == (400, "INVALID_DATA")
    assert (bad_users.status_code, bad_users.json["code"]) == (400, "InputValidationError")
