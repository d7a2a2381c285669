"""Where each asynchronous projection has got to in each application's notification log.

A catch-up locks its row first, so two processes never apply the same events; the row moves in the
same transaction as the read-model rows, so a crash loses nothing and repeats nothing. Positions are
(`tx`, notification id) pairs (`chainmail.store.events.Position`). Read models kept inline have no row:
they change in the transaction that appends their events. `error` says why a projection stopped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Connection, String, Table, Text, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chainmail.store.events import Position
from chainmail.store.schema import metadata

projection_tracking = Table(
    "projection_tracking",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("application", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("tx", BigInteger, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
)


def _key(projection: str, application: str) -> tuple[Any, Any]:
    return (projection_tracking.c.projection == projection, projection_tracking.c.application == application)


def lock_position(tx: Connection, projection: str, application: str) -> Position:
    """The projection's position, locked until `tx` ends (row lock on PostgreSQL, the write lock on SQLite)."""
    values = {"projection": projection, "application": application, "position": 0, "tx": 0}
    if tx.dialect.name == "postgresql":
        tx.execute(pg_insert(projection_tracking).values(**values).on_conflict_do_nothing())
    else:
        tx.execute(insert(projection_tracking).values(**values).prefix_with("OR IGNORE"))
    query = select(projection_tracking.c.tx, projection_tracking.c.position).where(*_key(projection, application))
    if tx.dialect.name == "postgresql":
        query = query.with_for_update()
    row = tx.execute(query).one()
    return Position(int(row.tx), int(row.position))


def move_position(tx: Connection, projection: str, application: str, expected: Position, new: Position) -> None:
    """Compare-and-set: a position only moves from where this transaction found it."""
    result = tx.execute(
        update(projection_tracking)
        .where(
            *_key(projection, application),
            projection_tracking.c.position == expected.id,
            projection_tracking.c.tx == expected.tx,
        )
        .values(position=new.id, tx=new.tx, error=None)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"tracking of {projection}/{application} moved under a held lock")


def read_position(tx: Connection, projection: str, application: str) -> Position | None:
    """The projection's position, or None when it has no row (never caught up, or kept inline)."""
    query = select(projection_tracking.c.tx, projection_tracking.c.position).where(*_key(projection, application))
    row = tx.execute(query).first()
    return None if row is None else Position(int(row.tx), int(row.position))


def record_failure(tx: Connection, projection: str, application: str, error: str) -> None:
    """Say why a projection stopped (shown by `chainmail project` and `GET /idx/blocks`)."""
    lock_position(tx, projection, application)
    tx.execute(update(projection_tracking).where(*_key(projection, application)).values(error=error[:2000]))


def failures(conn: Connection) -> dict[str, str]:
    """Projections stopped at an event they could not fold: name -> what went wrong."""
    query = select(projection_tracking.c.projection, projection_tracking.c.error).where(
        projection_tracking.c.error.is_not(None)
    )
    return {row.projection: row.error for row in conn.execute(query)}


def forget(tx: Connection, projection: str, application: str) -> None:
    """Drop a projection's row: from now on it is kept inline."""
    tx.execute(projection_tracking.delete().where(*_key(projection, application)))
