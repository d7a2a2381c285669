"""Throwaway databases for benchmarks: a SQLite file in a temp dir, a PostgreSQL database dropped afterwards."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from chainmail.config import Settings
from chainmail.store.migrations import upgrade
from chainmail.system import System

PG_ADMIN = os.environ.get("CHAINMAIL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def database(store: str, *, migrated: bool = True) -> Iterator[str]:
    """An empty database URL for `store` ("sqlite" or "postgres"), migrated unless told otherwise."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.sqlite"
            if migrated:
                _migrate(url)
            yield url
        return
    name = f"chainmail_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        if migrated:
            _migrate(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(url: str) -> None:
    upgrade(url)
    System(Settings(database_url=url), create_tables=True).close()
