"""Where each asynchronous projection has got to in each application's notification log.

A catch-up locks its row first, so two processes never apply the same events; the row moves in the
same transaction as the read-model rows, so a crash loses nothing and repeats nothing. Positions are
(`tx`, notification id) pairs (`chainmail.store.events.Position`). Read models kept inline have no row:
they change in the transaction that appends their events; one that could not fold an event gets a row
there (it has fallen behind) and is caught up like the others until it rejoins the writes. `error` says
why a projection stopped.
"""

from __future__ import annotations

from typing import Any, overload

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


@overload
def lock_position(tx: Connection, projection: str, application: str) -> Position: ...
@overload
def lock_position(tx: Connection, projection: str, application: str, *, create: bool) -> Position | None: ...
def lock_position(tx: Connection, projection: str, application: str, *, create: bool = True) -> Position | None:
    """The projection's position, locked until `tx` ends (row lock on PostgreSQL, the write lock on SQLite);
    a new row from the start, or with `create=False` None when there is no row."""
    if create:
        values = {"projection": projection, "application": application, "position": 0, "tx": 0}
        if tx.dialect.name == "postgresql":
            tx.execute(pg_insert(projection_tracking).values(**values).on_conflict_do_nothing())
        else:
            tx.execute(insert(projection_tracking).values(**values).prefix_with("OR IGNORE"))
    query = select(projection_tracking.c.tx, projection_tracking.c.position).where(*_key(projection, application))
    if tx.dialect.name == "postgresql":
        query = query.with_for_update()
    row = tx.execute(query).first()
    return None if row is None else Position(int(row.tx), int(row.position))


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


def record_failure(tx: Connection, projection: str, application: str, error: str, *, create: bool = True) -> None:
    """Say why a projection stopped (shown by `chainmail project` and `GET /idx/blocks`); with
    `create=False` only if it has a row (an inline read model's row means it has fallen behind)."""
    if lock_position(tx, projection, application, create=create) is not None:
        tx.execute(update(projection_tracking).where(*_key(projection, application)).values(error=error[:2000]))


def fall_behind(tx: Connection, projection: str, application: str, position: Position, error: str) -> None:
    """An inline read model stops folding in the writes at `position`, and says why."""
    values = {"position": position.id, "tx": position.tx, "error": error[:2000]}
    tx.execute(insert(projection_tracking).values(projection=projection, application=application, **values))


def tracked(conn: Connection, application: str, projections: list[str]) -> set[str]:
    """Which of `projections` have a position in `application`'s log (for inline ones: have fallen behind)."""
    query = select(projection_tracking.c.projection).where(
        projection_tracking.c.application == application, projection_tracking.c.projection.in_(projections)
    )
    return set(conn.execute(query).scalars())


def tracked_pairs(conn: Connection) -> set[tuple[str, str]]:
    """Every (projection, application) that has a position."""
    query = select(projection_tracking.c.projection, projection_tracking.c.application)
    return {(row.projection, row.application) for row in conn.execute(query)}


def failures(conn: Connection) -> dict[str, str]:
    """Projections stopped at an event they could not fold: name -> what went wrong."""
    query = select(projection_tracking.c.projection, projection_tracking.c.error).where(
        projection_tracking.c.error.is_not(None)
    )
    return {row.projection: row.error for row in conn.execute(query)}


def forget(tx: Connection, projection: str, application: str) -> None:
    """Drop a projection's row: from now on it is kept inline."""
    tx.execute(projection_tracking.delete().where(*_key(projection, application)))
