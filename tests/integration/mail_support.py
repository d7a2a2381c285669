"""Building mail-store state through the public API, for the mail-store tests."""

from __future__ import annotations

from typing import Any

import falcon.testing


def create_user(client: falcon.testing.TestClient, username: str, **fields: Any) -> str:
    result = client.simulate_post("/api/users", json={"username": username, "password": "secretvalue", **fields})
    assert result.status_code == 200, result.text
    return result.json["id"]


def mailbox_ids(client: falcon.testing.TestClient, user: str) -> dict[str, str]:
    listed = client.simulate_get(f"/api/users/{user}/mailboxes", params={"showHidden": "true"})
    assert listed.status_code == 200, listed.text
    return {m["path"]: m["id"] for m in listed.json["results"]}


def upload(
    client: falcon.testing.TestClient,
    user: str,
    mailbox: str,
    *,
    subject: str = "hello",
    text: str = "Hello there",
    seen: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    body = {
        "from": {"name": "Sender Person", "address": "sender@example.org"},
        "to": [{"name": "Receiver", "address": "receiver@example.com"}],
        "subject": subject,
        "text": text,
        "unseen": not seen,
        **fields,
    }
    result = client.simulate_post(f"/api/users/{user}/mailboxes/{mailbox}/messages", json=body)
    assert result.status_code == 200, result.text
    return result.json["message"]
