"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL: the server on 127.0.0.1:5432 (trust auth). Each test run migrates one template database;
each test gets a fresh copy of it and drops it afterwards. Without a reachable server the PostgreSQL
cases are skipped with a loud reason, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from chainmail.store.migrations import upgrade

PG_ADMIN = os.environ.get("CHAINMAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
STORES = ("sqlite", "postgres")


def _pg_url(database: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{database}"


def _admin() -> psycopg.Connection:
    return psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)


def _migrate_everything(url: str) -> None:
    from chainmail.config import Settings
    from chainmail.system import System

    upgrade(url)
    System(Settings(database_url=url), create_tables=True).close()


@pytest.fixture(scope="session")
def pg_template(worker_id: str) -> Iterator[str | None]:
    try:
        admin = _admin()
    except psycopg.OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN}: {error}")
        yield None
        return
    name = f"chainmail_tpl_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _migrate_everything(_pg_url(name))
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "chainmail.sqlite"
    _migrate_everything(f"sqlite:///{path}")
    return path


@pytest.fixture(params=STORES)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_template: str | None
) -> Iterator[str]:
    """A freshly migrated, empty database: a SQLite file or a PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "chainmail.sqlite"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if pg_template is None:
        pytest.skip(f"!!! PostgreSQL is not reachable at {PG_ADMIN}: PostgreSQL cases skipped !!!")
    name = f"chainmail_t_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _pg_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path, pg_template: str | None) -> Iterator[str]:
    """An unmigrated database, for migration tests (parametrised by the test with `store`)."""
    store = request.param
    if store == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    if pg_template is None:
        pytest.skip(f"!!! PostgreSQL is not reachable at {PG_ADMIN}: PostgreSQL cases skipped !!!")
    name = f"chainmail_e_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
