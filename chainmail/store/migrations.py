"""Schema migrations: alembic for chainmail's own tables, eventsourcing for the event store's."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "heads")


def head_revisions() -> set[str]:
    # Bounded contexts may add revisions on branches of their own; every head must be applied.
    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def schema_is_current(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions()


def missing_event_tables(engine: Engine) -> list[str]:
    """Event-store tables `chainmail migrate` creates that this database lacks."""
    from sqlalchemy import inspect

    from chainmail.system import CONTEXTS

    expected = [f"{app.name.lower()}_events" for app in CONTEXTS]
    present = set(inspect(engine).get_table_names())
    return [name for name in expected if name not in present]


def is_ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter: the event store's tables are eventsourcing's to manage, never alembic's."""
    from chainmail.store.schema import metadata

    return type_ != "table" or name in metadata.tables
