"""Event store configuration: one database URL gives every bounded context its eventsourcing recorder."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
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
        # with several contexts the last one created would receive every context's events.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        # Connections per context per process: one kept open, up to five when a worker's threads all write.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_LOCK_TIMEOUT": "30",
    }
    return env


def select_notifications(
    conn: Connection,
    application: str,
    *,
    after: int,
    limit: int,
    topics: Collection[str] = (),
    stop: int | None = None,
    skip_state: Collection[int] = (),
) -> list[Notification]:
    """An application's notifications after `after`, read on the caller's connection and transaction.

    Projections read here instead of through the recorder's own pool so that the rows they read and
    the rows they write share one transaction: on SQLite the write lock a catch-up holds can then never
    wait on a connection that is itself waiting for that lock.
    """
    sqlite = conn.dialect.name == "sqlite"
    position = "rowid" if sqlite else "notification_id"
    table = conn.dialect.identifier_preparer.quote(f"{application.lower()}_events")
    clauses = [f"{position} > :after"]
    params: dict[str, object] = {"after": after, "limit": limit}
    if stop is not None:
        clauses.append(f"{position} <= :stop")
        params["stop"] = stop
    # `skip_state`: notifications the caller has decoded already come without their (maybe large) state
    state = f"CASE WHEN {position} IN :skip THEN NULL ELSE state END" if skip_state else "state"
    statement = f"SELECT {position} AS id, originator_id, originator_version, topic, {state} AS state FROM {table} "
    query = text(statement + "WHERE " + " AND ".join(clauses) + (" AND topic IN :topics" if topics else ""))
    query = text(f"{query.text} ORDER BY {position} LIMIT :limit")
    if topics:
        query = query.bindparams(bindparam("topics", expanding=True))
        params["topics"] = sorted(topics)
    if skip_state:
        query = query.bindparams(bindparam("skip", expanding=True))
        params["skip"] = sorted(skip_state)
    return [
        Notification(
            id=int(row.id),
            originator_id=row.originator_id if isinstance(row.originator_id, UUID) else UUID(str(row.originator_id)),
            originator_version=int(row.originator_version),
            topic=row.topic,
            state=bytes(row.state) if row.state is not None else b"",
        )
        for row in conn.execute(query, params)
    ]


def notification_state(conn: Connection, application: str, notification_id: int) -> bytes:
    position = "rowid" if conn.dialect.name == "sqlite" else "notification_id"
    table = conn.dialect.identifier_preparer.quote(f"{application.lower()}_events")
    query = text(f"SELECT state FROM {table} WHERE {position} = :id")
    return bytes(conn.execute(query, {"id": notification_id}).scalar_one())


def max_notification_id(conn: Connection, application: str) -> int:
    position = "rowid" if conn.dialect.name == "sqlite" else "notification_id"
    table = conn.dialect.identifier_preparer.quote(f"{application.lower()}_events")
    return int(conn.execute(text(f"SELECT MAX({position}) FROM {table}")).scalar() or 0)
