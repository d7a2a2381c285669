"""Event store configuration: one database URL gives every bounded context its eventsourcing recorder."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from uuid import UUID

from eventsourcing.persistence import Notification
from sqlalchemy import Connection, bindparam, text
from sqlalchemy.engine import make_url

from chainmail.store.database import sqlite_path


def event_store_env(database_url: str, *, create_tables: bool) -> dict[str, str]:
    """eventsourcing's environment for the database at `database_url` (SQLite file or PostgreSQL)."""
    path = sqlite_path(database_url)
    common = {
        "CREATE_TABLE": "y" if create_tables else "n",
        # the chain context's pages of logs are megabytes of JSON: compressed before they are sent
        "CHAIN_COMPRESSOR_TOPIC": "chainmail.store.compression:FastZlib",
        # and encoded by orjson, which their JSON values allow
        "CHAIN_MAPPER_TOPIC": "chainmail.store.json_values:JsonValuesMapper",
        # Mailboxes are small and busy: each process keeps the ones it used, and a command reads only the
        # events recorded since (by any process) instead of a snapshot and the events after it.
        "MAIL_AGGREGATE_CACHE_MAXSIZE": "4096",
        # So are a wallet's points of the day (an award per mail it sends, up to the daily cap): one award
        # read every award before it, 3.6 ms an award at 100 a day on PostgreSQL, 1.7 ms from the cache.
        "REWARDS_AGGREGATE_CACHE_MAXSIZE": "4096",
    }
    if path is not None:
        if str(path) in ("", ":memory:"):
            raise ValueError("the event store needs a SQLite file, not an in-memory database")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            **common,
            "PERSISTENCE_MODULE": "chainmail.store.sqlite_events",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    url = make_url(database_url)
    if not url.drivername.startswith("postgres"):
        raise ValueError(f"unsupported database URL: {url.drivername}")
    env = {
        **common,
        "PERSISTENCE_MODULE": "chainmail.store.postgres_events",
        "POSTGRES_DBNAME": url.database or "postgres",
        "POSTGRES_HOST": url.host or str(url.query.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        # Off: eventsourcing 9.5 names its insert function `es_insert_events_uuid` whatever the table, so
        # with several contexts the last one created would receive every context's events. Appends go
        # through `chainmail.store.postgres_events` instead, without eventsourcing's table lock.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        # Only for a context built on its own (a tool, a test): one connection kept open, up to five. A `System`'s
        # contexts borrow the connections of its engine (`postgres_events.BorrowingDatastore`) and open none.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_LOCK_TIMEOUT": "30",
    }
    return env


class Position(NamedTuple):
    """Where a reader of an application's notifications has got to.

    On PostgreSQL appends run in parallel, so notification ids are not handed out in commit order: a
    reader orders by (`tx`, id) instead, `tx` being the id of the transaction that appended (the `tx`
    column of the events table), and reads only below a horizon that no running transaction of this
    database is under (`settled_horizon`). Each transaction below it has ended, so nothing can later
    appear before a position once it is passed. On SQLite one writer at a time commits ids in order
    and `tx` stays 0.
    """

    tx: int
    id: int


START = Position(0, 0)


@dataclass(frozen=True)
class PositionedNotification(Notification):
    tx: int = 0

    @property
    def position(self) -> Position:
        return Position(self.tx, self.id)


def select_notifications(
    conn: Connection,
    application: str,
    *,
    after: int | Position,
    limit: int,
    topics: Collection[str] = (),
    stop: int | None = None,
    skip_state: Collection[int] = (),
    settled: bool = True,
) -> list[PositionedNotification]:
    """An application's notifications after `after`, read on the caller's connection and transaction.

    `after` a `Position`: in commit order, only what can no longer be preceded by a running append (what
    projections fold). `after` a notification id: in id order, everything committed (a live feed that may
    see a late commit of a lower id after a higher one). `settled=False` with a `Position` reads every
    committed notification past it, for a caller that holds off the writers that matter (a replay's swap).

    Projections read here instead of through the recorder's own pool so that the rows they read and
    the rows they write share one transaction: on SQLite the write lock a catch-up holds can then never
    wait on a connection that is itself waiting for that lock.
    """
    sqlite = conn.dialect.name == "sqlite"
    position = "rowid" if sqlite else "notification_id"
    table = conn.dialect.identifier_preparer.quote(f"{application.lower()}_events")
    params: dict[str, object] = {"limit": limit}
    if isinstance(after, Position) and not sqlite:
        clauses = ["(tx, notification_id) > (:after_tx, :after)"]
        if settled:
            clauses.append("tx < :horizon")
            params["horizon"] = settled_horizon(conn)
        params.update(after_tx=after.tx, after=after.id)
        order, tx_column = "tx, notification_id", "tx"
    else:
        clauses = [f"{position} > :after"]
        params["after"] = after.id if isinstance(after, Position) else after
        order, tx_column = position, "0"
    if stop is not None:
        clauses.append(f"{position} <= :stop")
        params["stop"] = stop
    # `skip_state`: notifications the caller has decoded already come without their (maybe large) state
    state = f"CASE WHEN {position} IN :skip THEN NULL ELSE state END" if skip_state else "state"
    columns = f"{position} AS id, {tx_column} AS tx, originator_id, originator_version, topic, {state} AS state"
    where = " AND ".join(clauses) + (" AND topic IN :topics" if topics else "")
    query = text(f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT :limit")
    if topics:
        query = query.bindparams(bindparam("topics", expanding=True))
        params["topics"] = sorted(topics)
    if skip_state:
        query = query.bindparams(bindparam("skip", expanding=True))
        params["skip"] = sorted(skip_state)
    return [
        PositionedNotification(
            id=int(row.id),
            originator_id=row.originator_id if isinstance(row.originator_id, UUID) else UUID(str(row.originator_id)),
            originator_version=int(row.originator_version),
            topic=row.topic,
            state=bytes(row.state) if row.state is not None else b"",
            tx=int(row.tx),
        )
        for row in conn.execute(query, params)
    ]


def settled_horizon(conn: Connection) -> int:
    """A transaction id below which every transaction that could append to this database has ended.

    Three statements, in this order: the server's snapshot (its running transactions, `xip`), then the
    transactions of backends on this database that are still running, then the caller reads events below
    the horizon with a snapshot of its own, taken later. A transaction of this database running at the first
    statement and still running at the read was running at the second, and is shown by it (a transaction
    holds the lock of its own id until it ends, and a backend never changes database), so the horizon stays
    below it. One that the second does not show has ended before the read's snapshot, which sees its events.
    Transactions on other databases of the server, long or short, therefore hold nobody back (a plain
    `pg_snapshot_xmin` would; so did asking for those of other databases instead, when one of them ended
    between the first two statements: a catch-up then read nothing past it, for one pass).
    """
    snapshot = str(conn.execute(text("SELECT pg_current_snapshot()::text")).scalar_one())
    _xmin, xmax, xip = snapshot.split(":")
    running = [int(x) for x in xip.split(",") if x]
    if not running:
        return int(xmax)
    here = {
        int(x)
        for x in conn.execute(
            text(
                "SELECT l.transactionid::text::bigint FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' "
                "AND a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).scalars()
    }
    # pg_locks shows 32-bit transaction ids; two running transactions never share one
    return min((x for x in running if x % 2**32 in here), default=int(xmax))


def unsafe_notifications(conn: Connection, application: str, after: Position) -> bool:
    """Whether committed notifications lie past `after` that a `Position` reader may not pass yet (a
    transaction of this database older than theirs is still running). Always False on SQLite."""
    if conn.dialect.name == "sqlite":
        return False
    table = conn.dialect.identifier_preparer.quote(f"{application.lower()}_events")
    horizon = settled_horizon(conn)
    query = text(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE (tx, notification_id) > (:tx, :id) AND tx >= :horizon)")
    return bool(conn.execute(query, {"tx": after.tx, "id": after.id, "horizon": horizon}).scalar())


def position_of(conn: Connection, application: str, notification_id: int) -> Position:
    """The reading position just after notification `notification_id` (a client's last event id)."""
    if conn.dialect.name == "sqlite":
        return Position(0, notification_id)
    table = conn.dialect.identifier_preparer.quote(f"{application.lower()}_events")
    # The client's id, or where none was recorded (rolled back, or made up) the last recorded one below it
    found = conn.execute(
        text(f"SELECT tx, notification_id FROM {table} WHERE notification_id <= :id ORDER BY 2 DESC LIMIT 1"),
        {"id": notification_id},
    ).first()
    return Position(int(found.tx), int(found.notification_id)) if found is not None else START


def present_position(conn: Connection, application: str) -> Position:
    """A position from which a reader sees what is recorded from now on, and nothing recorded before."""
    if conn.dialect.name == "sqlite":
        return Position(0, max_notification_id(conn, application))
    return Position(settled_horizon(conn), 0)


def notification_state(conn: Connection, application: str, notification_id: int) -> bytes:
    position = "rowid" if conn.dialect.name == "sqlite" else "notification_id"
    table = conn.dialect.identifier_preparer.quote(f"{application.lower()}_events")
    query = text(f"SELECT state FROM {table} WHERE {position} = :id")
    return bytes(conn.execute(query, {"id": notification_id}).scalar_one())


def max_notification_id(conn: Connection, application: str) -> int:
    position = "rowid" if conn.dialect.name == "sqlite" else "notification_id"
    table = conn.dialect.identifier_preparer.quote(f"{application.lower()}_events")
    return int(conn.execute(text(f"SELECT MAX({position}) FROM {table}")).scalar() or 0)
