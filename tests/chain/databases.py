"""A second fresh database of the same store as the test's own, for "equals a fresh index" comparisons."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import _admin, _pg_url


@contextmanager
def fresh_database(database_url: str, sqlite_template: Path, pg_template: str | None, workdir: Path) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        path = workdir / f"fresh-{uuid.uuid4().hex[:8]}.sqlite"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    assert pg_template is not None
    name = f"chainmail_f_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _pg_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
