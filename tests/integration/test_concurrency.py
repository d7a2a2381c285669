"""Racing writers: unique names stay unique and nothing is lost when requests arrive at once."""

from __future__ import annotations

import threading

import falcon.testing
from sqlalchemy import func, select

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.projections.users import users
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN


def test_racing_creations_of_one_username_let_exactly_one_win(settings: Settings) -> None:
    # Each racer has its own System, as separate gunicorn workers would.
    systems = [System(settings) for _ in range(6)]
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(len(systems))

    def race(system: System) -> None:
        client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})
        barrier.wait()
        result = client.simulate_post("/api/users", json={"username": "contested", "password": ""})
        results.append((result.status_code, result.json.get("code", "")))

    threads = [threading.Thread(target=race, args=(s,)) for s in systems]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [(200, "")] + [(400, "UserExistsError")] * 5
    with systems[0].engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 1
    for system in systems:
        system.close()


def test_parallel_creations_of_different_users_all_land(settings: Settings) -> None:
    systems = [System(settings) for _ in range(4)]
    failures: list[str] = []

    def create_many(index: int, system: System) -> None:
        client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})
        for n in range(10):
            result = client.simulate_post("/api/users", json={"username": f"p{index}x{n}", "password": ""})
            if result.status_code != 200:
                failures.append(result.text)

    threads = [threading.Thread(target=create_many, args=(i, s)) for i, s in enumerate(systems)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with systems[0].engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 40
    for system in systems:
        system.close()
