"""Where each projection has got to in each application's notification sequence.

A catch-up locks its row first, so two processes never apply the same events; the row moves in the
same transaction as the read-model rows, so a crash loses nothing and repeats nothing.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, String, Table, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chainmail.store.schema import metadata

projection_tracking = Table(
    "projection_tracking",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("application", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


def lock_position(tx: Connection, projection: str, application: str) -> int:
    """The projection's position, locked until `tx` ends (row lock on PostgreSQL, the write lock on SQLite)."""
    values = {"projection": projection, "application": application, "position": 0}
    if tx.dialect.name == "postgresql":
        tx.execute(pg_insert(projection_tracking).values(**values).on_conflict_do_nothing())
    else:
        tx.execute(insert(projection_tracking).values(**values).prefix_with("OR IGNORE"))
    query = select(projection_tracking.c.position).where(
        projection_tracking.c.projection == projection, projection_tracking.c.application == application
    )
    if tx.dialect.name == "postgresql":
        query = query.with_for_update()
    return int(tx.execute(query).scalar_one())


def move_position(tx: Connection, projection: str, application: str, expected: int, new: int) -> None:
    """Compare-and-set: a position only moves from where this transaction found it."""
    result = tx.execute(
        update(projection_tracking)
        .where(
            projection_tracking.c.projection == projection,
            projection_tracking.c.application == application,
            projection_tracking.c.position == expected,
        )
        .values(position=new)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"tracking of {projection}/{application} moved under a held lock")


def read_position(tx: Connection, projection: str, application: str) -> int:
    query = select(projection_tracking.c.position).where(
        projection_tracking.c.projection == projection, projection_tracking.c.application == application
    )
    return int(tx.execute(query).scalar_one_or_none() or 0)
