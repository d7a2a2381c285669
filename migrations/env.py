"""Alembic environment: the read-model schema of chainmail, on the database the settings name."""

from __future__ import annotations

from alembic import context

from chainmail.config import load_settings
from chainmail.projections import registry, tracking  # noqa: F401  (imports every read-model table)
from chainmail.store import blobs, rate_limits, service_keys  # noqa: F401
from chainmail.store.database import make_engine
from chainmail.store.migrations import is_ours
from chainmail.store.schema import metadata

config = context.config
target_metadata = metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, include_name=is_ours)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or load_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, include_name=is_ours)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `chainmail migrate`")
run_migrations_online()
