"""A chainmail System and a Falcon test client over it, on each store."""

from __future__ import annotations

from collections.abc import Iterator

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
