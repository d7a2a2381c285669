"""Secrets the service makes for itself and every process on the database must share (the OAuth signing key):
made once, by whichever process asks first, and kept in the database rather than on one machine's disk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, String, Table, Text, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chainmail.store.database import writer
from chainmail.store.schema import metadata

service_keys = Table(
    "service_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),  # as the caller stores it (sealed, when a secret is configured)
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def kept(engine: Engine, name: str, make: Callable[[], str]) -> str:
    """The value kept under `name`; the first caller's `make()` when none is (processes asking at once all
    get the one that was stored first). A kept value is never replaced or deleted here."""
    query = select(service_keys.c.value).where(service_keys.c.name == name)
    with engine.connect() as conn:
        found = conn.execute(query).scalar_one_or_none()
    if found is not None:
        return str(found)
    row = {"name": name, "value": make(), "created_at": datetime.now(UTC)}
    with writer(engine).begin() as tx:
        if tx.dialect.name == "postgresql":
            tx.execute(pg_insert(service_keys).values(**row).on_conflict_do_nothing())
        else:
            tx.execute(insert(service_keys).values(**row).prefix_with("OR IGNORE"))
        return str(tx.execute(query).scalar_one())
