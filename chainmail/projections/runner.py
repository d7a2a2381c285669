"""Running projections: catch-up (live, exactly once), read-your-writes, and replay into fresh tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import Notification, Recording
from sqlalchemy import Connection, Engine, Index, MetaData, Table, text

from chainmail.domain.application import ContextApplication
from chainmail.projections.projection import BatchedWrites, Projection
from chainmail.projections.tracking import lock_position, move_position, read_position
from chainmail.store.database import writer
from chainmail.store.events import max_notification_id, notification_state, select_notifications
from chainmail.store.schema import metadata as live_metadata

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]  # (position reached, last position)
# Events at least this big (stored bytes) are decoded once for all projections; the last few are kept.
SHARED_DECODE_BYTES = 16_384
SHARED_DECODED_EVENTS = 8


@dataclass(frozen=True)
class ReplayResult:
    projection: str
    tables: dict[str, str]  # live name -> name of the rebuilt table
    positions: dict[str, int]  # application name -> last notification applied
    events: int
    swapped: bool


class ProjectionRunner:
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
        self._decoded: dict[tuple[str, int, UUID, int], Any] = {}
        self._decoded_lock = threading.Lock()

    # -- live ---------------------------------------------------------------------------------

    def catch_up(self, projection: Projection, app: ContextApplication, until: int | None = None) -> int:
        """Apply every event of `app` the projection has not seen, one locked batch at a time.

        With `until`, stop as soon as the position is at or beyond it. Returns the number of events read.
        """
        done = 0
        topics = projection.topics()
        while True:
            with writer(self.engine).begin() as tx:
                position = lock_position(tx, projection.name, app.name)
                if until is not None and position >= until:
                    return done
                notes = select_notifications(
                    tx, app.name, after=position, limit=self.batch_size, topics=topics, skip_state=self._shared(app)
                )
                if not notes:
                    return done
                if tx.dialect.name == "postgresql":
                    # Read-model rows are derived and commit with their tracking position: a crash can only lose
                    # both together, and the next catch-up folds the events again, so no WAL flush is awaited.
                    tx.execute(text("SET LOCAL synchronous_commit = off"))
                self._apply(projection, app, tx, notes)
                move_position(tx, projection.name, app.name, position, notes[-1].id)
            done += len(notes)
            if len(notes) < self.batch_size or (until is not None and notes[-1].id >= until):
                # nothing more to read (or nothing more wanted): no second transaction just to find that out
                return done

    def catch_up_all(self) -> int:
        """One pass over every projection and application it follows; the number of events read."""
        return sum(
            self.catch_up(projection, self.apps[app_class.name])
            for projection in self.projections.values()
            for app_class in projection.follows
        )

    def after_save(self, app: ContextApplication, recordings: Sequence[Recording[UUID]]) -> None:
        """Read your writes: when this returns, every synchronous projection that handles one of the saved
        events includes them. Projections the save does not concern are left to their next catch-up.

        A big saved event (a page of chain logs) is kept as the domain event just recorded, so the catch-ups
        fold it without decoding its stored state again: the mapper's encoding round-trips it exactly (JSON
        values only), which the replay tests and `tests/unit/test_json_values_mapper.py` hold it to."""
        if not recordings:
            return
        notification_id = max(r.notification.id for r in recordings)
        topics = frozenset(r.notification.topic for r in recordings)
        for recording in recordings:
            note = recording.notification
            if len(note.state) >= SHARED_DECODE_BYTES:
                self._keep((app.name, note.id, note.originator_id, note.originator_version), recording.domain_event)
        for projection in self.projections.values():
            if not projection.synchronous or all(a.name != app.name for a in projection.follows):
                continue
            if topics.isdisjoint(projection.topics()):
                continue
            with self.engine.connect() as conn:
                if read_position(conn, projection.name, app.name) >= notification_id:
                    continue  # another request or process got there first: no lock needed
            self.catch_up(projection, app, until=notification_id)

    def run_forever(self, poll_interval: float, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            if self.catch_up_all() == 0:
                time.sleep(poll_interval)

    # -- replay -------------------------------------------------------------------------------

    def replay(self, name: str, *, until: int | None = None, progress: Progress | None = None) -> ReplayResult:
        """Rebuild one read model from the first event into fresh tables.

        Without `until` the rebuilt tables replace the live ones (and take over their tracking position);
        with `until` they are left beside them as `<table>__at_<until>`, the state as of that event.
        """
        cls = type(self.projections[name])
        suffix = f"__at_{until}" if until is not None else "__replay"
        shadow_metadata = MetaData(naming_convention=live_metadata.naming_convention)
        shadows = {t.name: _bare_copy(t, t.name + suffix, shadow_metadata) for t in cls.tables}
        with writer(self.engine).begin() as tx:
            for shadow in shadows.values():
                shadow.drop(tx, checkfirst=True)
                shadow.create(tx)
        projection = cls(shadows)
        apps = [self.apps[a.name] for a in cls.follows]
        positions = {app.name: 0 for app in apps}
        total = sum(self._last_position(app, until) for app in apps)
        events = 0
        for app in apps:
            while True:
                with writer(self.engine).begin() as tx:
                    notes = self._select(tx, app, projection, positions[app.name], until)
                    if not notes:
                        break
                    self._apply(projection, app, tx, notes)
                positions[app.name] = notes[-1].id
                events += len(notes)
                if progress:
                    progress(sum(positions.values()), total)

        if until is not None:
            with writer(self.engine).begin() as tx:
                for live in cls.tables:
                    for index in live.indexes:
                        _index_copy(index, shadows[live.name], suffix).create(tx)
            return ReplayResult(name, {k: v.name for k, v in shadows.items()}, positions, events, False)

        with writer(self.engine).begin() as tx:
            for app in apps:
                # Hold the live position so no catch-up runs while the tables change hands.
                lock_position(tx, cls.name, app.name)
                while notes := self._select(tx, app, projection, positions[app.name], None):
                    self._apply(projection, app, tx, notes)
                    positions[app.name] = notes[-1].id
                    events += len(notes)
            for live in cls.tables:
                _swap(tx, live, shadows[live.name])
            for app in apps:
                current = lock_position(tx, cls.name, app.name)
                move_position(tx, cls.name, app.name, current, positions[app.name])
        log.info("replayed", projection=name, events=events, positions=positions)
        return ReplayResult(name, {k: k for k in shadows}, positions, events, True)

    # -- internals ----------------------------------------------------------------------------

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
        self, tx: Connection, app: ContextApplication, projection: Projection, after: int, until: int | None
    ) -> Sequence[Notification]:
        return select_notifications(
            tx, app.name, after=after, limit=self.batch_size, topics=projection.topics(), stop=until
        )

    def _last_position(self, app: ContextApplication, until: int | None) -> int:
        with self.engine.connect() as conn:
            last = max_notification_id(conn, app.name)
        return min(last, until) if until is not None else last


def _bare_copy(table: Table, name: str, metadata: MetaData) -> Table:
    """A copy of `table` under another name with no secondary indexes (they are built after the fill)."""
    copy = table.to_metadata(metadata, name=name)
    copy.primary_key.name = _pk_name(name)
    for index in list(copy.indexes):
        copy.indexes.discard(index)
    return copy


def _pk_name(table_name: str) -> str:
    return f"pk_{table_name}"  # the schema's naming convention


def _index_copy(index: Index, table: Table, suffix: str) -> Index:
    assert isinstance(index.name, str)
    return Index(index.name + suffix, *[table.c[c.name] for c in index.columns], unique=index.unique)


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
