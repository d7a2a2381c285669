"""The Projection base: one handler per event class, SQL only, no rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, suppress
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, ClassVar, TypeVar

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, insert
from sqlalchemy.sql.expression import Executable

from chainmail.domain.application import ContextApplication
from chainmail.projections.bulk import COPY_FROM_ROWS, insert_rows
from chainmail.store.prepared import Prepared

Handler = Callable[[Any, Connection, Any], None]
F = TypeVar("F", bound=Handler)


class BatchedWrites:
    """The connection handlers write through: `insert()` rows are sent many at a time.

    Any other statement first sends what is pending, so handlers see their writes in order; the
    runner sends the rest before it moves the tracking position.

    `pipelined` (PostgreSQL): statements whose results nobody reads yet (`send`: `Prepared.run`, the
    append of the events) go out one after another without waiting for each answer, in psycopg's pipeline
    mode, and come back together at `sync`, one round trip for all of them. Any other use of the connection
    (a SQLAlchemy statement, a select whose rows a handler reads, an attribute of the connection) syncs
    first, so whatever a handler reads is read outside the pipeline, with every earlier write done. An
    error of a statement sent is raised at the sync, as the driver's exception.
    """

    def __init__(self, conn: Connection, *, pipelined: bool = False) -> None:
        self._conn = conn
        self.dialect = conn.dialect  # read without a round trip: it sends nothing pending
        self.pipelined = pipelined and conn.dialect.name == "postgresql"
        self._pending: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        self._pipeline: AbstractContextManager[Any] | None = None
        self._unanswered: Any = None  # the cursor of the statements whose rows nobody reads

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        # keyed by the row's keys as written (handlers write them in one order): sorting them cost more
        self._pending.setdefault((table, tuple(row)), []).append(row)

    def send(
        self, sql: Any, params: Any, *, many: bool = False, prepare: bool | None = None, rows: bool = False
    ) -> Any:
        """Execute `sql` on the driver's cursor; on a pipelined connection without waiting for the answer.
        `rows`: on a cursor of its own, returned for its rows to be read after `sync`; else on one cursor
        that the statements whose rows nobody reads share (a new cursor, and its lookup of how to send each
        type of value, cost a fold's statement a third of its time in Python)."""
        if self._pending:
            self.flush()
        raw = self._conn.connection.driver_connection
        assert raw is not None
        if self.pipelined and self._pipeline is None:
            self._pipeline = raw.pipeline()  # type: ignore[attr-defined]
            self._pipeline.__enter__()
        if rows:
            cursor = raw.cursor()
        else:
            if self._unanswered is None:
                self._unanswered = raw.cursor()
            cursor = self._unanswered
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params, prepare=prepare)
        return cursor

    def sync(self) -> None:
        """Wait for every statement sent (raising the first error among them) and leave the pipeline."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.__exit__(None, None, None)

    def abandon(self, error: BaseException) -> None:
        """Leave the pipeline after `error` (the transaction is then rolled back): the connection goes back
        to its pool out of pipeline mode."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            with suppress(Exception):
                pipeline.__exit__(type(error), error, error.__traceback__)

    def flush(self) -> None:
        """Write the rows `insert` collected. On a pipelined connection a few rows go out in the pipeline with
        the other statements (`Prepared` inserts); many, or elsewhere, through `bulk.insert_rows` (COPY, or
        SQLAlchemy's insert), what was sent being synced first. With none, statements sent stay in flight:
        `sync` answers them."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        for (table, keys), rows in pending.items():
            if self.pipelined and len(rows) < COPY_FROM_ROWS:
                _inserting(table, keys).run(self, rows)  # type: ignore[arg-type]  # its `send`, or `execute`
            else:
                self.sync()
                insert_rows(self._conn, table, rows)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._settle()
        return self._conn.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        self._settle()
        return getattr(self._conn, name)

    def _settle(self) -> None:
        """Everything collected written and everything sent answered: the connection is the caller's."""
        self.flush()
        self.sync()


@lru_cache(maxsize=256)
def _inserting(table: Table, keys: tuple[str, ...]) -> Prepared:
    """The insert of rows with these keys into `table`, compiled once (replays' copies of tables come and go:
    the cache is bounded)."""
    return Prepared(insert(table), column_keys=keys)


def handles(*event_classes: type) -> Callable[[F], F]:
    """Mark a projection method as the handler of these event classes."""

    def mark(method: F) -> F:
        method.__handles__ = event_classes  # type: ignore[attr-defined]
        return method

    return mark


class Projection:
    """Folds the events of the applications it follows into its tables.

    `tables` are the live tables; an instance may be bound to copies of them (`replay`), so handlers
    always write through `self.t.<table name>`.
    """

    name: ClassVar[str]
    follows: ClassVar[tuple[type[ContextApplication], ...]]
    tables: ClassVar[tuple[Table, ...]]
    # Inline read models change in the transaction that appends their events (read your writes, exactly
    # once by construction); their handlers touch only rows of the aggregates an event concerns, with
    # updates relative to the stored value. The others, which need a global order (statistics, rankings),
    # are folded asynchronously by `chainmail project` workers from a tracked position.
    inline: ClassVar[bool] = True
    _handlers: ClassVar[dict[type, Handler]]
    _topics: ClassVar[frozenset[str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                for event_class in getattr(attr, "__handles__", ()):
                    cls._handlers[event_class] = attr

    def __init__(self, bound: Mapping[str, Table] | None = None) -> None:
        live = {table.name: table for table in self.tables}
        self.t = SimpleNamespace(**{**live, **(bound or {})})
        self._prepared: dict[tuple[str, tuple[str, ...] | None], Prepared] = {}

    def prepared(
        self, key: str, build: Callable[[SimpleNamespace], Executable], column_keys: Iterable[str] | None = None
    ) -> Prepared:
        """The statement `build(self.t)` under `key`, built once for this instance's tables (a hot handler's
        write: `chainmail.store.prepared`). `column_keys`: an insert's columns, part of the key."""
        columns = tuple(column_keys) if column_keys is not None else None
        found = self._prepared.get((key, columns))
        if found is None:
            found = self._prepared[(key, columns)] = Prepared(build(self.t), columns)
        return found

    def serial_keys(self, event: Any) -> Iterable[str]:
        """Keys of rows this inline read model merges from several aggregates' events (a bucket of sign-ins).

        A write takes these keys' locks before anything else (PostgreSQL advisory locks, before the write
        has a transaction id), so writes that merge into one row commit one after the other and in the
        order a replay folds them (by transaction id). Rows of one aggregate need none: its version does it."""
        return ()

    @classmethod
    def topics(cls) -> frozenset[str]:
        topics = cls.__dict__.get("_topics")
        if topics is None:
            topics = frozenset(get_topic(event_class) for event_class in cls._handlers)
            cls._topics = topics
        return topics

    def apply(self, tx: BatchedWrites | Connection, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, tx, event)
