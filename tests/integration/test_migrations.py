"""`chainmail migrate` builds exactly the schema the code declares; `serve` refuses a stale one."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from chainmail import cli
from chainmail.config import Settings
from chainmail.store.database import make_engine
from chainmail.store.migrations import is_ours, missing_event_tables, schema_is_current
from chainmail.store.schema import metadata


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgres"], indirect=True)
def test_migrate_creates_the_declared_schema_and_the_event_store(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    assert not schema_is_current(engine)

    cli.migrate(Settings(database_url=empty_database_url))

    assert schema_is_current(engine)
    assert missing_event_tables(engine) == []
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"include_name": is_ours}), metadata) == []
    cli.migrate(Settings(database_url=empty_database_url))  # idempotent
    engine.dispose()


@pytest.mark.parametrize("empty_database_url", ["sqlite", "postgres"], indirect=True)
def test_serve_refuses_an_unmigrated_database(empty_database_url: str) -> None:
    with pytest.raises(SystemExit, match="chainmail migrate"):
        cli.serve(Settings(database_url=empty_database_url), migrate_first=False)


def test_the_root_token_is_generated_once_and_kept(tmp_path) -> None:
    settings = Settings(var_dir=tmp_path, api_access_control=True)

    first = cli.root_token(settings)
    second = cli.root_token(settings)

    assert first is not None and len(first) == 40 and first == second
    assert (tmp_path / "root-token").stat().st_mode & 0o077 == 0
    assert cli.root_token(Settings(var_dir=tmp_path, api_access_token="given")) == "given"
    assert cli.root_token(Settings(var_dir=tmp_path / "other", api_access_control=False)) is None
