"""eventsourcing's PostgreSQL persistence with appends that run in parallel.

eventsourcing locks the events table (`LOCK TABLE ... IN EXCLUSIVE MODE`) for every insert so that
notification ids commit in order; every write of a context then waits for every other. Here inserts take
no table lock: each row records the transaction that appended it (`tx`), and readers of the notification
log order by (`tx`, id) and stop before any transaction still running (`chainmail.store.events.Position`).
New events are sent to the server in binary: their state is `bytea`, which the text format escapes byte by
byte (a page of chain logs is megabytes of it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import eventsourcing.postgres as es_postgres
import psycopg
from eventsourcing import persistence as es_errors
from eventsourcing.persistence import IntegrityError, StoredEvent
from psycopg.rows import dict_row, tuple_row
from psycopg.sql import SQL, Composable, Composed, Identifier
from psycopg.types.composite import register_composite
from sqlalchemy import Connection, Engine

# The appending transaction's id as a bigint (xid8 with its epoch: it never wraps around).
TX_DEFAULT = "pg_current_xact_id()::text::bigint"

# A write's turn (`ProjectionRunner.serialised`): the connection whose open transaction holds the turn's lock.
# The command's reads of events run on it, after the lock (so they see every earlier holder's commit), and
# its save commits it: one connection and one transaction for the read, the decision and the append.
turn: ContextVar[Connection | None] = ContextVar("turn", default=None)
# The key of the turn's lock while it is not taken yet: it goes out with the turn's first statement (BEGIN, the
# lock and that statement in one round trip, `take_turn`), which then runs once the lock is held.
turn_key: ContextVar[str | None] = ContextVar("turn_key", default=None)
TURN_LOCK = b"SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"
# The turn's connection reads in autocommit, as every plain connection does (`store.database.make_engine`), and
# opens its transaction itself: psycopg's own BEGIN would wait for its answer, a round trip of its own.
BEGIN = b"BEGIN ISOLATION LEVEL READ COMMITTED"


def take_turn(raw: psycopg.Connection[Any], then: Callable[[], Any] | None = None) -> None:
    """Take the turn's lock if it is not taken yet, opening the transaction (BEGIN, then the lock); `then`
    sends the statement that follows it, all in one round trip (psycopg's pipeline mode: the server runs them
    in order, so the statement reads what every earlier holder of the lock committed)."""
    key = turn_key.get()
    if key is None:
        if then is not None:
            then()
        return
    turn_key.set(None)
    also, conn = _turn_reads_registered.get(), turn.get()
    with raw.pipeline():
        cursor = raw.cursor()  # one for both: nobody reads their rows
        cursor.execute(BEGIN, prepare=False)
        cursor.execute(TURN_LOCK, (key,))
        if then is not None:
            then()
        if conn is not None:
            for read in also:
                read.send(conn)


class TurnRead:
    """A read of read-model rows that a command acts on, made once the account's turn is held, so that it sees
    what every earlier holder of the turn committed (`Prepared` selects and their parameters; the rows of all,
    in order, or each select's apart: `each`). Registered (`with read.first():`, several at once for a batch of
    commands) before the command runs, it goes out with the turn's lock, in the same round trip (`take_turn`);
    called without a turn (SQLite), or in a turn it did not go out with, it reads then. A command that reruns
    in a turn of its own while it is still registered gets it sent again with that turn's lock."""

    def __init__(self, engine: Engine, reads: Sequence[tuple[Any, Any]]) -> None:
        self.engine, self.reads = engine, list(reads)
        self._sent: tuple[Connection, list[Callable[[], list[dict[str, Any]]]]] | None = None

    @contextmanager
    def first(self) -> Iterator[None]:
        token = _turn_reads_registered.set((*_turn_reads_registered.get(), self))
        try:
            yield
        finally:
            _turn_reads_registered.reset(token)
            self._sent = None

    def send(self, conn: Connection) -> None:
        """Send the reads on the turn's connection (inside `take_turn`'s pipeline, after the lock)."""
        self._sent = (conn, [prepared.send(conn, params) for prepared, params in self.reads])

    def __call__(self) -> list[dict[str, Any]]:
        return [row for rows in self.each() for row in rows]

    def each(self) -> list[list[dict[str, Any]]]:
        """The rows of each select, in the order given."""
        sent, self._sent = self._sent, None
        if sent is not None and sent[0] is turn.get():
            return [read() for read in sent[1]]
        with turn_reads(self.engine) as conn:
            return [prepared.rows(conn, params) for prepared, params in self.reads]


_turn_reads_registered: ContextVar[tuple[TurnRead, ...]] = ContextVar("turn_reads", default=())


@contextmanager
def turn_reads(engine: Engine) -> Iterator[Connection]:
    """The connection for a command's reads of read models: while the command holds a turn, the turn's own
    (its lock taken first), so that the reads see what every earlier holder of the lock committed; else a
    connection of its own (SQLite, one writer at a time: a save made stale by a writer in between fails
    on its aggregate's version, and the command reruns and reads again)."""
    conn = turn.get()
    if conn is None:
        with engine.connect() as own:
            yield own
        return
    take_turn(conn.connection.driver_connection)  # type: ignore[arg-type]
    yield conn


def _binary_placeholders(query: Composable) -> Composable:
    """The same statement with `%b` (a parameter sent in binary) for each `%s`."""
    if isinstance(query, Composed):
        return Composed([_binary_placeholders(part) for part in query])
    if isinstance(query, SQL):
        return SQL(query.as_string().replace("%s", "%b"))
    return query


class ParallelAppendRecorder(es_postgres.PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # eventsourcing's insert (one array of its composite type, RETURNING the notification ids)
        self.insert_events_statement = _binary_placeholders(self.insert_events_statement)
        self.lock_table_statements = []  # ordering is the readers' business (`tx`), not a table lock
        table = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        self.append_statement = SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %b::bytea[]) RETURNING notification_id"
        ).format(*table)
        self.sql_create_statements.extend(
            [
                # Existing rows get 0 (all committed long ago); new ones their transaction's id.
                SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS tx bigint NOT NULL DEFAULT 0").format(*table),
                SQL("ALTER TABLE {}.{} ALTER COLUMN tx SET DEFAULT " + TX_DEFAULT).format(*table),
                SQL("CREATE INDEX IF NOT EXISTS {} ON {}.{} (tx, notification_id)").format(
                    Identifier(f"{self.events_table_name}_tx_idx"), *table
                ),
            ]
        )

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """eventsourcing's read of an aggregate's events; inside a turn, on the turn's connection."""
        conn = turn.get()
        if conn is None:
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        statement, params = self.select_events_statement, [originator_id]
        for value, clause in ((gt, " AND originator_version > %s"), (lte, " AND originator_version <= %s")):
            if value is not None:
                statement, params = statement + SQL(clause), [*params, value]
        statement += SQL(" ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC")
        if limit is not None:
            statement, params = statement + SQL(" LIMIT %s"), [*params, limit]
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        with raw.cursor(row_factory=dict_row) as cursor:
            take_turn(raw, lambda: cursor.execute(statement, params))
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in cursor.fetchall()
            ]

    def append_on(self, conn: Connection, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Insert `stored_events` in `conn`'s open transaction; their notification ids, in order."""
        if not stored_events:
            return []
        params = _columns(stored_events)
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        try:
            with raw.cursor() as cursor:
                cursor.execute(self.append_statement, params, prepare=True)
                return [int(row[0]) for row in cursor.fetchall()]
        except psycopg.errors.UniqueViolation as error:
            raise IntegrityError(error) from error

    def send_append(self, writes: Any, stored_events: Sequence[StoredEvent]) -> Callable[[], list[int]]:
        """`append_on` through a fold's pipelined writes (`BatchedWrites.send`): the insert goes out with the
        read models' statements; the notification ids are read (by the function returned) after the sync,
        which raises a version conflict as the driver's UniqueViolation."""
        params = _columns(stored_events)
        cursor = writes.send(self.append_statement, params, prepare=True, rows=True)
        return lambda: [int(row[0]) for row in cursor.fetchall()]


# PostgreSQL's detail of a duplicate primary key of an events table: the aggregate and the version raced for
_RACED = re.compile(r"\(originator_id, originator_version\)=\(([0-9a-f-]{36}), \d+\)")


def raced_aggregate(error: BaseException) -> UUID | None:
    """The aggregate whose next version another writer took first, when that is what `error` (a save's
    IntegrityError) was: None for any other conflict (a read model's unique key) and on SQLite."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, psycopg.errors.UniqueViolation):
            found = _RACED.search(cause.diag.message_detail or "")
            return UUID(found.group(1)) if found and (cause.diag.table_name or "").endswith("_events") else None
        cause = cause.__cause__ or getattr(cause, "orig", None)
    return None


def _columns(stored_events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
    """The events as the append statement's four arrays."""
    return (
        [e.originator_id for e in stored_events],
        [e.originator_version for e in stored_events],
        [e.topic for e in stored_events],
        [e.state for e in stored_events],
    )


# A process's read-model engine, while `System` builds its contexts: their recorders borrow its connections.
lender: ContextVar[Engine | None] = ContextVar("lender", default=None)

# psycopg's errors as eventsourcing's (the most specific first), as eventsourcing's own datastore raises them
_ERRORS: tuple[tuple[type[psycopg.Error], type[es_errors.PersistenceError]], ...] = (
    (psycopg.InterfaceError, es_errors.InterfaceError),
    (psycopg.OperationalError, es_errors.OperationalError),
    (psycopg.DataError, es_errors.DataError),
    (psycopg.IntegrityError, es_errors.IntegrityError),
    (psycopg.InternalError, es_errors.InternalError),
    (psycopg.ProgrammingError, es_errors.ProgrammingError),
    (psycopg.NotSupportedError, es_errors.NotSupportedError),
    (psycopg.DatabaseError, es_errors.DatabaseError),
    (psycopg.Error, es_errors.PersistenceError),
)


class BorrowingDatastore(es_postgres.PostgresDatastore):
    """eventsourcing's datastore, whose connections are borrowed from the process's read-model engine.

    eventsourcing gives every context a pool of its own (psycopg_pool, opened with its minimum at once): four
    contexts and the engine's pool made a worker hold about 15 PostgreSQL connections idle and 23 under load,
    so that a stock server (100) could not take a second node of four workers. Borrowed, a worker holds what
    its threads use at once, opened only as they ask, and a recorder's read and the read models share a pool
    whose connections have their statements prepared already. eventsourcing's own pool is never opened.
    """

    engine: Engine

    @contextmanager
    def get_connection(self) -> Iterator[psycopg.Connection[Any]]:
        proxied = self.engine.raw_connection()
        conn = proxied.driver_connection
        assert isinstance(conn, psycopg.Connection)
        conn.row_factory = dict_row  # eventsourcing reads rows by column name
        try:
            for info in self.psycopg_type_adapters.values():
                if not conn.adapters.types.get(info.oid):
                    register_composite(info, conn)
            yield conn
        except psycopg.Error as error:
            raise next(ours for theirs, ours in _ERRORS if isinstance(error, theirs))(str(error)) from error
        finally:
            conn.row_factory = tuple_row  # as the engine's other users expect
            if conn.broken or conn.closed:
                proxied.invalidate()  # the server dropped it: the engine opens another
            else:
                proxied.close()  # back to the engine's pool (its reset rolls back anything left open)


# eventsourcing looks for exactly one factory class in this module, so its base is not imported by name.
class Factory(es_postgres.PostgresFactory):
    application_recorder_class = ParallelAppendRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        engine = lender.get()
        if engine is not None:
            # eventsourcing builds its datastore by name; this one only lends connections differently
            self.datastore.__class__ = BorrowingDatastore
            self.datastore.engine = engine
