"""Under `chainmail serve` with 4 gunicorn workers, parallel uploads to one mailbox all land with distinct UIDs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import ROOT_TOKEN

UPLOADS = 80


@pytest.mark.e2e
def test_parallel_uploads_to_one_mailbox_never_lose_a_message_or_reuse_a_uid(database_url: str, server_factory) -> None:
    server = server_factory(database_url, workers=4)
    headers = {"X-Access-Token": ROOT_TOKEN}
    user = httpx.post(
        f"{server.url}/api/users", json={"username": "parallelmail", "password": "pw"}, headers=headers, timeout=60
    ).json()["id"]
    boxes = httpx.get(f"{server.url}/api/users/{user}/mailboxes", headers=headers, timeout=60).json()["results"]
    inbox = next(m["id"] for m in boxes if m["path"] == "INBOX")

    def upload(i: int) -> tuple[int, int | None]:
        # A fresh connection per request lets gunicorn spread the uploads over its workers.
        answer = httpx.post(
            f"{server.url}/api/users/{user}/mailboxes/{inbox}/messages",
            json={"subject": f"parallel {i}", "text": "hello"},
            headers=headers,
            timeout=120,
        )
        return answer.status_code, answer.json().get("message", {}).get("id")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(upload, range(UPLOADS)))

    assert [r for r in results if r[0] != 200] == []
    assert sorted(uid for _status, uid in results) == list(range(1, UPLOADS + 1))
    listed = httpx.get(
        f"{server.url}/api/users/{user}/mailboxes/{inbox}/messages", params={"limit": 250}, headers=headers, timeout=60
    ).json()
    assert listed["total"] == UPLOADS
    assert sorted(m["subject"] for m in listed["results"]) == sorted(f"parallel {i}" for i in range(UPLOADS))
    quota = httpx.get(f"{server.url}/api/users/{user}", headers=headers, timeout=60).json()["limits"]["quota"]
    assert quota["used"] == sum(m["size"] for m in listed["results"])
