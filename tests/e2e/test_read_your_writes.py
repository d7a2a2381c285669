"""Under `chainmail serve` with 4 gunicorn workers, a user created by one request is there for the next."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import ROOT_TOKEN

ROUNDS = 200


@pytest.mark.e2e
def test_every_created_user_is_readable_at_once_from_any_worker(database_url: str, server_factory) -> None:
    server = server_factory(database_url, workers=4)
    headers = {"X-Access-Token": ROOT_TOKEN}

    def round_trip(i: int) -> tuple[int, int, str | None]:
        # A fresh connection per request lets gunicorn hand the two requests to different workers.
        created = httpx.post(
            f"{server.url}/api/users", json={"username": f"ryw{i}", "password": "pw"}, headers=headers, timeout=60
        )
        user_id = created.json().get("id")
        got = httpx.get(f"{server.url}/api/users/{user_id}", headers=headers, timeout=60)
        return created.status_code, got.status_code, got.json().get("username")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(round_trip, range(ROUNDS)))

    assert [r for r in results if r[:2] != (200, 200)] == []
    assert sorted(r[2] for r in results) == sorted(f"ryw{i}" for i in range(ROUNDS))
    listing = httpx.get(f"{server.url}/api/users", params={"limit": 1}, headers=headers).json()
    assert listing["total"] == ROUNDS
