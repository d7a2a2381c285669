"""Running projections: inline in the write's transaction, catch-up (exactly once) for the asynchronous ones,
and replay into fresh tables."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import psycopg
import structlog
from eventsourcing.persistence import IntegrityError, Notification, Recording, StoredEvent
from sqlalchemy import Connection, Engine, Index, MetaData, Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError as SQLAlchemyIntegrityError

from chainmail.domain.application import ContextApplication, aggregate_turn
from chainmail.projections.projection import BatchedWrites, Projection
from chainmail.projections.tracking import (
    failures as tracked_failures,
)
from chainmail.projections.tracking import (
    fall_behind,
    forget,
    lock_position,
    move_position,
    record_failure,
    tracked,
    tracked_pairs,
)
from chainmail.store.database import sqlite_turn, writer
from chainmail.store.events import (
    START,
    Position,
    PositionedNotification,
    max_notification_id,
    notification_state,
    select_notifications,
    unsafe_notifications,
)
from chainmail.store.postgres_events import BEGIN, raced_aggregate, take_turn, turn, turn_key
from chainmail.store.schema import metadata as live_metadata

log = structlog.get_logger(__name__)
IDLE = psycopg.pq.TransactionStatus.IDLE

Progress = Callable[[int, int], None]  # (position reached, last position)
# Events at least this big (stored bytes) are decoded once for all projections; the last few are kept.
SHARED_DECODE_BYTES = 16_384
SHARED_DECODED_EVENTS = 8
# The locks of a save's fold and the read of the read models fallen behind (migration 0004_fold_gate); strict,
# it fails with FALLEN_BEHIND instead of answering.
FOLD_GATE = b"SELECT chainmail_fold_gate(%s, %s, %s, %s, %s)"
FALLEN_BEHIND = "CM001"
# A write that deadlocked with another on read-model rows is rerun this many times in all.
TRANSIENT_RETRIES = 8
TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
# How long a replay, or a hand-over, waits for appends still running (maybe on another database of the server).
SETTLE_SECONDS = 10.0


@dataclass(frozen=True)
class ReplayResult:
    projection: str
    tables: dict[str, str]  # live name -> name of the rebuilt table
    positions: dict[str, int]  # application name -> last notification applied
    events: int
    swapped: bool


class ProjectionRunner:
    """Folds events into read models: inline ones in the transaction that appends them (`commit`), the
    others by catch-up from their tracked positions (`chainmail project`), and any of them by replay."""

    def __init__(
        self,
        engine: Engine,
        apps: Mapping[str, ContextApplication],
        projections: Sequence[type[Projection]],
        *,
        batch_size: int = 1000,
    ) -> None:
        self.engine, self.apps, self.batch_size = engine, apps, batch_size
        self.projections = {p.name: p(None) for p in projections}
        self._inline: dict[str, list[Projection]] = {}
        for projection in self.projections.values():
            if projection.inline:
                for app_class in projection.follows:
                    self._inline.setdefault(app_class.name, []).append(projection)
        self._decoded: dict[tuple[str, int, UUID, int], Any] = {}
        self._decoded_lock = threading.Lock()
        self._failures: dict[str, str] = {}

    # -- inline: the write's own transaction ------------------------------------------------------

    def commit(
        self,
        app: ContextApplication,
        events: Sequence[Any],
        stored: Sequence[StoredEvent],
        within: Callable[[Connection], None] | None = None,
    ) -> list[Recording[UUID]]:
        """Append a save's events and fold every inline read model they concern, in one transaction.

        Two saves of different aggregates run side by side (no table lock); two of one aggregate meet in
        its primary key and the later fails as a version conflict (IntegrityError), before it folds. A
        deadlock between read-model rows is retried here: nothing of the attempt was committed.

        A read model that cannot fold the events (a bug, or an event its tables cannot hold) does not stop
        the write: the save runs again with each read model in a savepoint of its own, and the one that
        fails again falls behind at these events (`_fall_behind`) while the events and the other read
        models commit. `chainmail project` then folds it from its events until it has caught up."""
        isolate, optimistic = False, True
        held = turn.get()
        for attempt in range(TRANSIENT_RETRIES):
            try:
                pipelined = not isolate and _pipelines(app, self.engine)
                with self._transaction(held, begin_in_pipeline=pipelined) as conn:
                    if pipelined:  # the gate, within, the append, the fold and the COMMIT, in one round trip
                        concerned, ids = self._send(app, conn, events, stored, within, optimistic=optimistic)
                    else:
                        concerned = self._prepare(app, conn, events, stored, exclusive=isolate)
                        if within is not None:
                            within(conn)
                        ids = app.recorder.append_on(conn, stored)  # type: ignore[attr-defined]
                    recordings = [
                        Recording(
                            event,
                            Notification(
                                originator_id=s.originator_id,
                                originator_version=s.originator_version,
                                topic=s.topic,
                                state=s.state,
                                id=n,
                            ),
                        )
                        for event, s, n in zip(events, stored, ids, strict=True)
                    ]
                    if isolate:
                        self._fold_isolated(app, conn, recordings, concerned)
                    elif concerned and not pipelined:
                        try:
                            self._fold(conn, events, concerned)
                        except Exception as error:
                            if _transient(error) or _conflict(error):
                                raise
                            raise _FoldFailed from error
                return recordings
            except _Behind:
                optimistic = False  # a read model has fallen behind: again, reading which before the fold
            except _FoldFailed as failed:
                if isolate:
                    raise failed.__cause__ from None  # type: ignore[misc]
                isolate = True  # again, each read model on its own: only the failing one stays behind
            except (DBAPIError, psycopg.Error) as error:
                if _transient(error) and attempt < TRANSIENT_RETRIES - 1:
                    time.sleep(0.001 * (2**attempt) * (0.5 + random.random()))
                    continue
                if _conflict(error):
                    # a read-model key taken by a concurrent write: the command reruns and sees it
                    raise IntegrityError(error) from error
                raise
        raise AssertionError("unreachable")

    def _send(
        self,
        app: ContextApplication,
        conn: Connection,
        events: Sequence[Any],
        stored: Sequence[StoredEvent],
        within: Callable[[Any], None] | None,
        *,
        optimistic: bool,
    ) -> tuple[list[Projection], list[int]]:
        """The BEGIN (unless a turn's lock opened the transaction), the fold gate, `within`, the append, the fold
        and the COMMIT through one pipelined `BatchedWrites`: what they send goes out without waiting, and the
        answers come back together (an upload's statements in one round trip). `optimistic`: the gate is sent
        strict, assuming that no read model the events concern has fallen behind; if one has, the gate fails,
        the server skips everything after it, and `_Behind` is raised for the save to run again with the
        gate's answer read first (`_prepare`).

        An error among them is raised at the sync; one that is not a conflict or transient is taken as the
        fold's (`_FoldFailed`): the save runs again unpipelined, each read model isolated, where an error of
        `within` or of the append is raised as it is. Returns the read models folded and the notification ids."""
        writes = BatchedWrites(conn, pipelined=True)
        try:
            if conn.connection.driver_connection.info.transaction_status == IDLE:  # type: ignore[union-attr]
                writes.send(BEGIN, None, prepare=False)  # `_transaction`: the BEGIN goes with everything else
            concerned = self._prepare(app, conn, events, stored, gate_in=writes if optimistic else None)
            if within is not None:
                within(writes)
            ids = app.recorder.send_append(writes, stored)  # type: ignore[attr-defined]
            if concerned:
                self._fold(conn, events, concerned, writes)
            # and the save's COMMIT: after an error the server skips it (the pipeline is aborted up to the
            # sync), so it commits only if everything before it succeeded; the transaction's own commit then
            # finds nothing open and sends nothing
            writes.send(b"COMMIT", None, prepare=False)
            writes.sync()
        except BaseException as error:
            writes.abandon(error)
            if not isinstance(error, Exception) or _transient(error) or _conflict(error):
                raise
            if _fallen_behind(error):
                raise _Behind from error
            raise _FoldFailed from error
        return concerned, ids()

    @contextmanager
    def _transaction(self, held: Connection | None, *, begin_in_pipeline: bool) -> Iterator[Connection]:
        """A write transaction: the turn's own (`serialised`) when the write has one, else a new one.

        On PostgreSQL the connection stays in autocommit, as every plain connection is, and the transaction is
        opened by a BEGIN of our own (psycopg's waits for its answer, a round trip of its own): the turn's
        comes with its lock (`take_turn`); otherwise it is sent at once or, `begin_in_pipeline`, by `_send`
        as the first statement of the save's pipeline. A rerun or a later save of a turn's block opens a
        transaction of its own, the turn having ended. The commit (or rollback) goes by the server's
        transaction status: after the pipeline's own COMMIT, it sends nothing."""
        if self.engine.dialect.name != "postgresql":
            with writer(self.engine).begin() as conn:
                yield conn
            return
        with ExitStack() as stack:
            conn = held if held is not None else stack.enter_context(self.engine.connect())
            if not conn.in_transaction():
                conn.begin()
            raw = conn.connection.driver_connection
            if held is not None:
                take_turn(raw)  # type: ignore[arg-type]  # a command that read nothing
            if not begin_in_pipeline and raw.info.transaction_status == IDLE:  # type: ignore[union-attr]
                raw.execute(BEGIN, prepare=False)  # type: ignore[union-attr]
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def fold_inline(self, app: ContextApplication, conn: Connection, recordings: Sequence[Recording[UUID]]) -> None:
        """Fold what a save recorded into every inline read model that follows `app`, on the save's
        connection (read models fallen behind included: for a caller that holds the writers off)."""
        topics = {r.notification.topic for r in recordings}
        projections = [p for p in self._inline.get(app.name, ()) if not topics.isdisjoint(p.topics())]
        if projections:
            self._fold(conn, [r.domain_event for r in recordings], projections)

    @staticmethod
    def _fold(
        conn: Connection, events: Sequence[Any], projections: Sequence[Projection], writes: BatchedWrites | None = None
    ) -> None:
        writes = writes or BatchedWrites(conn)
        for projection in projections:
            for event in events:
                projection.apply(writes, event)
        writes.flush()

    def _fold_isolated(
        self,
        app: ContextApplication,
        conn: Connection,
        recordings: Sequence[Recording[UUID]],
        projections: Sequence[Projection],
    ) -> None:
        """`_fold` with each read model in a savepoint: one that fails falls behind, the others fold."""
        for projection in projections:
            savepoint = conn.begin_nested()
            try:
                self._fold(conn, [r.domain_event for r in recordings], [projection])
            except Exception as error:
                savepoint.rollback()
                if _transient(error) or _conflict(error):
                    raise
                self._fall_behind(app, conn, projection, recordings, error)
            else:
                savepoint.commit()

    def _fall_behind(
        self,
        app: ContextApplication,
        conn: Connection,
        projection: Projection,
        recordings: Sequence[Recording[UUID]],
        error: Exception,
    ) -> None:
        """An inline read model stops at this save's events: it gets a tracking position just before them
        and the error, so writers pass it by and `chainmail project` folds it from there (loudly failing
        at the same event until the cause is fixed). The save holds the read model's fold lock exclusively
        (`_prepare`): every write that folded it inline has committed, with a lower transaction id."""
        if conn.dialect.name == "postgresql":
            position = Position(int(conn.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()), 0)
        else:
            position = Position(0, min(r.notification.id for r in recordings) - 1)
        message = f"{type(error).__name__}: {error}"
        fall_behind(conn, projection.name, app.name, position, message)
        log.error(
            "read model stopped",
            projection=projection.name,
            application=app.name,
            notification=min(r.notification.id for r in recordings),
            error=message,
        )

    @contextmanager
    def serialised(self, key: str | None, *, lost: bool = False) -> Iterator[None]:
        """A turn for the writers of `key` across every process on the database, until the block's first
        save commits.

        On PostgreSQL the turn is a transaction: `key`'s advisory lock opens it, sent with the turn's first
        statement (`store.postgres_events.take_turn`: BEGIN, the lock and the command's first read of events
        in one round trip, the read run once the lock is held), the command's reads of events run in it
        (`store.postgres_events.turn`) and the save commits it, which ends the turn. One connection and no
        unlock, where a session lock on a connection of its own cost two more round trips and a checkout per
        write. A save that fails rolls the turn back; its reruns and any later save of
        the block run without the lock (the events' versions still decide a race).

        On SQLite one writer at a time saves anyway, and a command runs without a turn: it reads, then waits
        for the file's writer (`sqlite_writer`) to save, and a writer in between makes its save stale. Holding
        the file's writer from the first read on would put every command of every process in one line (16
        clients, each into a folder of its own: uploads 0.83x, flag updates 0.70x, measured). So only a
        command that `lost` a race holds it, from its first read to its last save: it cannot lose again (four
        workers into one hot INBOX: a batch lost 41 races in a row and answered 500)."""
        if self.engine.dialect.name != "postgresql":
            file_turn = sqlite_turn(self.engine) if lost else None
            with file_turn.hold() if file_turn is not None else nullcontext():
                yield
            return
        if key is None:  # a command with no key of its own: PostgreSQL saves run side by side
            yield
            return
        with self.engine.connect() as conn:  # in autocommit: `take_turn` sends the BEGIN with the lock
            raw = conn.connection.driver_connection
            token, key_token = turn.set(conn), turn_key.set(key)  # the lock goes with the turn's first statement
            try:
                yield
            finally:
                turn.reset(token)
                turn_key.reset(key_token)
                _end_unsaved_turn(raw)

    def raced(self, error: IntegrityError) -> str | None:
        """An aggregate's own turn, for the reruns of a command without a key that lost the race for it."""
        aggregate = raced_aggregate(error)
        return None if aggregate is None else aggregate_turn(aggregate)

    def _prepare(
        self,
        app: ContextApplication,
        conn: Connection,
        events: Sequence[Any],
        stored: Sequence[StoredEvent],
        *,
        exclusive: bool = False,
        gate_in: BatchedWrites | None = None,
    ) -> list[Projection]:
        """The inline read models a save folds: those its events concern, less any fallen behind.

        On PostgreSQL, first (before the write has a transaction id) the save takes the locks of the rows
        those read models merge across aggregates (`serial_keys`), and each read model's fold lock, shared
        (`exclusive` when a read model may fall behind in this save); then it reads which have fallen
        behind, with a snapshot taken after the locks, so that it sees what a holder of a lock committed: one
        statement, `chainmail_fold_gate` (migration 0004). `gate_in`: the gate goes out in that pipeline,
        strict, and every read model concerned is returned (one fallen behind fails the gate, and the save)."""
        topics = {s.topic for s in stored}
        concerned = [p for p in self._inline.get(app.name, ()) if not topics.isdisjoint(p.topics())]
        if not concerned:
            return []
        names = [p.name for p in concerned]
        if conn.dialect.name != "postgresql":
            behind = tracked(conn, app.name, names)
            return [p for p in concerned if p.name not in behind]
        serial = {key for p in concerned for e in events for key in p.serial_keys(e)}
        fold = {_fold_key(p, app) for p in concerned}
        # one order everywhere: no deadlock between two writers' locks
        keys = sorted([(key, False) for key in serial] + [(key, not exclusive) for key in fold])
        params = (app.name, names, [key for key, _ in keys], [shared for _, shared in keys], gate_in is not None)
        if gate_in is not None:
            gate_in.send(FOLD_GATE, params, prepare=True)
            return concerned
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(FOLD_GATE, params, prepare=True)
            behind = {row[0] for row in cursor.fetchall()}
        return [p for p in concerned if p.name not in behind]

    def hand_over(self) -> int:
        """Inline read models that have a tracking position (fallen behind at an event they could not
        fold, or kept by a catch-up on a database from before inline folding) are caught up from it and
        go back to inline. Run by `chainmail migrate`; the number of events folded."""
        done = 0
        for projection, app in self._behind():
            done += self.catch_up(projection, app, settle=SETTLE_SECONDS, create=False)
            done += self._rejoin(projection, app)
        return done

    def _behind(self) -> list[tuple[Projection, ContextApplication]]:
        """The inline read models (and applications) that have fallen behind."""
        with self.engine.connect() as conn:
            rows = tracked_pairs(conn)
        return [
            (projection, self.apps[app_class.name])
            for projection in self.projections.values()
            if projection.inline
            for app_class in projection.follows
            if (projection.name, app_class.name) in rows
        ]

    def _rejoin(self, projection: Projection, app: ContextApplication) -> int:
        """An inline read model that has caught up goes back to inline: holding its fold lock (no write of
        its events runs), it folds what is left and drops its tracking row. The events folded."""
        done = 0
        with writer(self.engine).begin() as tx:
            if tx.dialect.name == "postgresql":
                key = _fold_key(projection, app)
                tx.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
            position = lock_position(tx, projection.name, app.name, create=False)
            if position is None:
                return 0  # another process did it
            # every write of these events has committed (the lock): read past any other running append
            while notes := self._select(tx, app, projection, position, None, settled=False):
                self._apply(projection, app, tx, notes)
                position = notes[-1].position
                done += len(notes)
            forget(tx, projection.name, app.name)
        log.info("read model caught up", projection=projection.name, application=app.name)
        return done

    # -- asynchronous: tracked catch-ups ----------------------------------------------------------

    def catch_up(
        self, projection: Projection, app: ContextApplication, *, settle: float = 0.0, create: bool = True
    ) -> int:
        """Apply every event of `app` the projection has not seen, one locked batch at a time; the number
        of events read. With `settle`, wait up to that many seconds for appends still running to end when
        committed events lie behind them (a reader never passes a running append)."""
        done = 0
        topics = projection.topics()
        deadline = time.monotonic() + settle
        while True:
            with writer(self.engine).begin() as tx:
                # `create=False`: only while it has a tracking row (an inline read model that has fallen behind)
                position = lock_position(tx, projection.name, app.name, create=create)
                if position is None:
                    return done
                notes = select_notifications(
                    tx, app.name, after=position, limit=self.batch_size, topics=topics, skip_state=self._shared(app)
                )
                if not notes:
                    waiting = time.monotonic() < deadline and unsafe_notifications(tx, app.name, position)
                else:
                    if tx.dialect.name == "postgresql":
                        # Read-model rows are derived and commit with their tracking position: a crash can only
                        # lose both together, and the next catch-up folds the events again: no WAL flush awaited.
                        tx.execute(text("SET LOCAL synchronous_commit = off"))
                    self._apply(projection, app, tx, notes)
                    move_position(tx, projection.name, app.name, position, notes[-1].position)
            if not notes:
                if waiting:
                    time.sleep(0.01)
                    continue
                return done
            done += len(notes)
            if len(notes) < self.batch_size and not settle:
                return done  # nothing more to read: no second transaction just to find that out

    def catch_up_all(self, *, settle: float = 0.0) -> int:
        """One pass over every asynchronous projection and application it follows, and every inline read
        model that has fallen behind (which goes back to inline once it has caught up); the number of
        events read. A projection that cannot fold an event stops there, loudly (a log line, `failures()`),
        and the others go on; it resumes from that event on a later pass."""
        done = 0
        pairs = [
            (projection, self.apps[app_class.name])
            for projection in self.projections.values()
            if not projection.inline
            for app_class in projection.follows
        ]
        for projection, app in pairs + self._behind():
            try:
                done += self.catch_up(projection, app, settle=settle, create=not projection.inline)
                if projection.inline:
                    done += self._rejoin(projection, app)
            except Exception as error:
                self._failed(projection, app, error)
            else:
                self._failures.pop(projection.name, None)
        return done

    def failures(self) -> dict[str, str]:
        """Asynchronous projections stopped at an event they could not fold, by name (every process's)."""
        with self.engine.connect() as conn:
            return tracked_failures(conn)

    def _failed(self, projection: Projection, app: ContextApplication, error: Exception) -> None:
        message = f"{type(error).__name__}: {error}"
        if self._failures.get(projection.name) != message:
            log.error("projection stopped", projection=projection.name, application=app.name, error=message)
        self._failures[projection.name] = message
        try:
            with writer(self.engine).begin() as tx:
                record_failure(tx, projection.name, app.name, message, create=not projection.inline)
        except Exception:  # the database itself may be what failed: the log line stays
            log.exception("could not record a projection failure", projection=projection.name)

    def run_forever(self, poll_interval: float, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            if self.catch_up_all() == 0:
                time.sleep(poll_interval)

    # -- replay -------------------------------------------------------------------------------

    def replay(self, name: str, *, until: int | None = None, progress: Progress | None = None) -> ReplayResult:
        """Rebuild one read model from the first event into fresh tables.

        Without `until` the rebuilt tables replace the live ones; with `until` they are left beside them as
        `<table>__at_<until>`, the state as of that notification id. Events are read in commit order.
        """
        cls = type(self.projections[name])
        suffix = f"__at_{until}" if until is not None else "__replay"
        shadow_metadata = MetaData(naming_convention=live_metadata.naming_convention)
        shadows = {t.name: _bare_copy(t, _bounded(t.name + suffix), shadow_metadata) for t in cls.tables}
        with writer(self.engine).begin() as tx:
            for shadow in shadows.values():
                shadow.drop(tx, checkfirst=True)
                shadow.create(tx)
        projection = cls(shadows)
        apps = [self.apps[a.name] for a in cls.follows]
        positions = {app.name: START for app in apps}
        total = sum(self._last_position(app, until) for app in apps)
        events = 0
        for app in apps:
            deadline = time.monotonic() + SETTLE_SECONDS
            while True:
                with writer(self.engine).begin() as tx:
                    notes = self._select(tx, app, projection, positions[app.name], until)
                    if notes:
                        self._apply(projection, app, tx, notes)
                    elif until is not None and time.monotonic() < deadline:
                        waiting = unsafe_notifications(tx, app.name, positions[app.name])
                    else:
                        waiting = False
                if not notes:
                    if waiting:
                        time.sleep(0.01)
                        continue
                    break
                positions[app.name] = notes[-1].position
                events += len(notes)
                if progress:
                    progress(sum(p.id for p in positions.values()), total)

        if until is not None:
            with writer(self.engine).begin() as tx:
                for live in cls.tables:
                    for index in live.indexes:
                        _index_copy(index, shadows[live.name], suffix).create(tx)
            return ReplayResult(name, {k: v.name for k, v in shadows.items()}, self._ids(positions), events, False)

        with writer(self.engine).begin() as tx:
            if cls.inline:
                # Writers fold into the live tables in their own transactions: hold them off (the fold lock
                # holds off those that pass a read model fallen behind by), and take what they committed
                # before (whatever else the server is running).
                if tx.dialect.name == "postgresql":
                    for app in apps:
                        key = _fold_key(projection, app)
                        tx.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
                    quote = tx.dialect.identifier_preparer.quote
                    names = ", ".join(quote(t.name) for t in cls.tables)
                    tx.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
                for app in apps:
                    while notes := self._select(tx, app, projection, positions[app.name], None, settled=False):
                        self._apply(projection, app, tx, notes)
                        positions[app.name] = notes[-1].position
                        events += len(notes)
            else:
                for app in apps:
                    # Hold the live position so no catch-up runs while the tables change hands.
                    lock_position(tx, cls.name, app.name)
                    while notes := self._select(tx, app, projection, positions[app.name], None):
                        self._apply(projection, app, tx, notes)
                        positions[app.name] = notes[-1].position
                        events += len(notes)
            for live in cls.tables:
                _swap(tx, live, shadows[live.name])
            if cls.inline:
                for app in apps:
                    forget(tx, cls.name, app.name)  # rebuilt to the present: inline again if it had fallen behind
            else:
                for app in apps:
                    current = lock_position(tx, cls.name, app.name)
                    move_position(tx, cls.name, app.name, current, positions[app.name])
        log.info("replayed", projection=name, events=events, positions=self._ids(positions))
        return ReplayResult(name, {k: k for k in shadows}, self._ids(positions), events, True)

    # -- internals ----------------------------------------------------------------------------

    @staticmethod
    def _ids(positions: Mapping[str, Position]) -> dict[str, int]:
        return {name: position.id for name, position in positions.items()}

    def _apply(
        self, projection: Projection, app: ContextApplication, tx: Connection, notes: Sequence[Notification]
    ) -> None:
        writes = BatchedWrites(tx)
        for note in notes:
            projection.apply(writes, self._decode(app, note, tx))
        writes.flush()

    def _shared(self, app: ContextApplication) -> list[int]:
        """Notifications of `app` decoded already and shared: selected again without their state."""
        with self._decoded_lock:
            return [key[1] for key in self._decoded if key[0] == app.name]

    def _decode(self, app: ContextApplication, note: Notification, tx: Connection) -> Any:
        """The notification's domain event; a big one (a page of chain logs, read by every chain read
        model) is decoded once and shared, which is safe because handlers never change events."""
        key = (app.name, note.id, note.originator_id, note.originator_version)
        if not note.state:  # selected without its state as shared, but no longer kept: read it
            with self._decoded_lock:
                event = self._decoded.get(key)
            if event is not None:
                return event
            note = replace(note, state=notification_state(tx, app.name, note.id))
        if len(note.state) < SHARED_DECODE_BYTES:
            return app.mapper.to_domain_event(note)
        with self._decoded_lock:
            event = self._decoded.get(key)
        if event is None:
            event = app.mapper.to_domain_event(note)
            self._keep(key, event)
        return event

    def _keep(self, key: tuple[str, int, UUID, int], event: Any) -> None:
        with self._decoded_lock:
            self._decoded[key] = event
            while len(self._decoded) > SHARED_DECODED_EVENTS:
                del self._decoded[next(iter(self._decoded))]

    def _select(
        self,
        tx: Connection,
        app: ContextApplication,
        projection: Projection,
        after: Position,
        until: int | None,
        *,
        settled: bool = True,
    ) -> Sequence[PositionedNotification]:
        return select_notifications(
            tx, app.name, after=after, limit=self.batch_size, topics=projection.topics(), stop=until, settled=settled
        )

    def _last_position(self, app: ContextApplication, until: int | None) -> int:
        with self.engine.connect() as conn:
            last = max_notification_id(conn, app.name)
        return min(last, until) if until is not None else last


class _FoldFailed(Exception):
    """An inline read model could not fold a save's events (the cause is chained)."""


class _Behind(Exception):
    """A pipelined save's strict gate found a read model it concerns fallen behind: nothing was committed."""


def _fallen_behind(error: BaseException) -> bool:
    return getattr(getattr(error, "orig", None) or error, "sqlstate", None) == FALLEN_BEHIND


def _end_unsaved_turn(raw: Any) -> None:
    """A turn whose command saved nothing (it failed, or found nothing to do) holds only its lock and reads:
    commit, which lets the lock go as a rollback would, but keeps the statements psycopg prepared on the
    connection (a rollback makes it forget them all)."""
    if raw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        with suppress(psycopg.Error):  # else the connection's return to the pool rolls back
            raw.commit()


def _pipelines(app: ContextApplication, engine: Engine) -> bool:
    """Whether a save of `app` through `engine` sends its statements pipelined (`ProjectionRunner._send`)."""
    return engine.dialect.name == "postgresql" and hasattr(app.recorder, "send_append")


def _transient(error: BaseException) -> bool:
    return isinstance(getattr(error, "orig", None) or error, TRANSIENT)


def _conflict(error: BaseException) -> bool:
    cause = getattr(error, "orig", None) or error
    return isinstance(error, SQLAlchemyIntegrityError) or isinstance(cause, psycopg.errors.UniqueViolation)


def _fold_key(projection: Projection, app: ContextApplication) -> str:
    """The advisory lock every write folding `projection` for `app` holds shared (`ProjectionRunner._prepare`)."""
    return f"fold:{projection.name}:{app.name}"


def _bare_copy(table: Table, name: str, metadata: MetaData) -> Table:
    """A copy of `table` under another name with no secondary indexes (they are built after the fill)."""
    copy = table.to_metadata(metadata, name=name)
    copy.primary_key.name = _pk_name(name)
    for index in list(copy.indexes):
        copy.indexes.discard(index)
    return copy


def _pk_name(table_name: str) -> str:
    return _bounded(f"pk_{table_name}")  # the schema's naming convention


def _index_copy(index: Index, table: Table, suffix: str) -> Index:
    assert isinstance(index.name, str)
    return Index(_bounded(index.name + suffix), *[table.c[c.name] for c in index.columns], unique=index.unique)


def _bounded(name: str, limit: int = 63) -> str:
    """A name PostgreSQL keeps whole (63 bytes at most): a long one cut, with a hash of the whole for its end."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return f"{name[: limit - 11]}_{digest}"


def _swap(tx: Connection, live: Table, shadow: Table) -> None:
    """Put `shadow` in the place of `live`: drop, rename, rebuild the live indexes."""
    live.drop(tx, checkfirst=True)
    quote = tx.dialect.identifier_preparer.quote
    tx.execute(text(f"ALTER TABLE {quote(shadow.name)} RENAME TO {quote(live.name)}"))
    if tx.dialect.name == "postgresql":
        # Constraint names are schema-wide on PostgreSQL: give the primary key its live name back.
        pk, live_pk = _pk_name(shadow.name), _pk_name(live.name)
        tx.execute(text(f"ALTER TABLE {quote(live.name)} RENAME CONSTRAINT {quote(pk)} TO {quote(live_pk)}"))
    for index in live.indexes:
        index.create(tx)
