"""The SQLAlchemy engine for read models and blobs, on the same database as the event store."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from chainmail.store.json_values import json_text, load_json_column
from chainmail.store.sqlite_writer import TurnConnection, WriterTurn, writer_turn

SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlalchemy_url(database_url: str) -> str:
    """`postgresql://` means psycopg 3; SQLite URLs are used as given."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        return None
    return Path(url.database or "")


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    path = sqlite_path(database_url)
    if path is None:
        # One round trip a read: reads run in autocommit (under READ COMMITTED each statement has a snapshot of
        # its own anyway, so a read-only transaction adds a BEGIN and a ROLLBACK and nothing else), and writes
        # open a transaction through `writer`. Statements a connection has run a few times are prepared on the
        # server (psycopg's default threshold): the server then skips parsing and planning them, which halved
        # PostgreSQL's CPU per upload (1.8 -> 0.9 ms, measured). psycopg forgets them only when a transaction
        # rolls back (a failed write: one DEALLOCATE ALL); reads in autocommit and writes that commit keep them.
        # No ping per checkout; a connection the server dropped is noticed by its first statement, which
        # invalidates the pool, and connections are renewed every half hour. The pool keeps as many connections
        # as a worker has app threads (chainmail.http.buffered.APP_THREADS): the overflow past `pool_size` is
        # closed on return, and a new PostgreSQL connection (a backend forked) per request cost the busiest
        # reads a tenth of their time. Connections are opened only as concurrency asks for them, and the event
        # recorders of a process's contexts borrow them (`System`): no other pool but the GraphQL API's. JSON
        # columns are written by orjson (`json_text`, as the bulk inserts of replays already wrote them): an
        # upload's summary cost the standard encoder a twentieth of the request's time.
        return create_engine(
            sqlalchemy_url(database_url),
            json_serializer=json_text,
            json_deserializer=load_json_column,
            isolation_level="AUTOCOMMIT",
            connect_args=kwargs.pop("connect_args", {}),
            pool_pre_ping=False,
            pool_recycle=1800,
            pool_size=8,
            max_overflow=8,
            **kwargs,
        )

    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        sqlalchemy_url(database_url),
        json_serializer=json_text,
        json_deserializer=load_json_column,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False, "factory": TurnConnection},
        **kwargs,
    )
    turn = writer_turn(path, SQLITE_BUSY_TIMEOUT_MS / 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.turn = turn  # writers queue for the file (`sqlite_writer`), not in the busy handler
        # Let SQLAlchemy, not pysqlite, say when a transaction begins, so writers can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock up front: a deferred transaction that reads and then writes can
        # fail with "database is locked" instead of waiting its turn. Readers never block anyone.
        if connection.get_execution_options().get("write", False):
            connection.connection.driver_connection.begin_write()
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def make_query_engine(database_url: str, statement_timeout_ms: int) -> Engine | None:
    """On PostgreSQL, an engine for public read-only queries (the indexer's GraphQL API): every statement
    limited to `statement_timeout_ms` and every transaction read-only by the connection's own settings (no
    round trip per request to set them), and statements prepared on the server once a connection has run
    them a few times (its reads never roll back, so psycopg keeps them), which spares PostgreSQL planning the
    same few queries again. None on SQLite, where the read-model engine serves."""
    if sqlite_path(database_url) is not None:
        return None
    options = f"-c statement_timeout={int(statement_timeout_ms)} -c default_transaction_read_only=on"
    return make_engine(database_url, connect_args={"prepare_threshold": 5, "options": options})


def writer(engine: Engine) -> Engine:
    """The engine to open write transactions with (BEGIN IMMEDIATE on SQLite; READ COMMITTED on PostgreSQL,
    whose plain connections read in autocommit)."""
    found = _writers.get(engine)
    if found is None:
        if engine.dialect.name == "postgresql":
            found = engine.execution_options(write=True, isolation_level="READ COMMITTED")
        else:
            found = engine.execution_options(write=True)
        _writers[engine] = found
    return found


_writers: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def sqlite_turn(engine: Engine) -> WriterTurn | None:
    """The writer's turn of an SQLite engine's file, the one its connections queue for (None on PostgreSQL)."""
    path = sqlite_path(engine.url.render_as_string(hide_password=False))
    return writer_turn(path, SQLITE_BUSY_TIMEOUT_MS / 1000) if path is not None else None
