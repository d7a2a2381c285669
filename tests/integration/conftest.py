"""A chainmail System and a Falcon test client over it, on each store; two of each, as two gunicorn workers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import falcon.testing
import pytest

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.system import System

ROOT_TOKEN = "root-token-for-tests"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, api_access_token=ROOT_TOKEN, email_domain="example.com")


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    system = System(settings)
    yield system
    system.close()


@pytest.fixture
def client(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})


@pytest.fixture
def workers(settings: Settings) -> Iterator[list[System]]:
    """Two Systems on one database (their own engines, event store connections and caches), as two workers."""
    running = [System(settings) for _ in range(2)]
    yield running
    for system in running:
        system.close()


@pytest.fixture
def clients(workers: list[System]) -> list[falcon.testing.TestClient]:
    return [falcon.testing.TestClient(create_app(w), headers={"X-Access-Token": ROOT_TOKEN}) for w in workers]


def in_threads(work: Callable[[int], object], count: int) -> None:
    """`work(0)` to `work(count - 1)`, each on a thread of its own, all at once; back when all have ended
    (or after two minutes, so that a hung one fails its test rather than hanging the run)."""
    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
