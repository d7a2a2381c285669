"""The base of every bounded context's command side: an eventsourcing Application with an injected
clock and id source, whose saves commit through a `Committer` that folds the inline read models in the
same transaction as the events."""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording, StoredEvent

from chainmail.domain.ids import ObjectId, object_id_from


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class IdSource:
    """Randomness for ids, salts and tokens; tests pass a seeded `randbytes`.

    ObjectIds are made almost as MongoDB makes them: seconds, 5 bytes, a 3-byte counter. MongoDB's 5 bytes
    are random per process; here the first 3 are the microseconds within the second (then 2 random per
    process), so ids made by several processes (gunicorn workers, API nodes) sort in the order they were
    made too, as WildDuck's clients expect of the ids of one account's things, to the microsecond.
    """

    randbytes: Callable[[int], bytes] = field(default=secrets.token_bytes)

    def __post_init__(self) -> None:
        self._process = self.randbytes(2)
        self._counter = int.from_bytes(self.randbytes(3), "big") >> 1  # room for 2**23 ids a microsecond
        self._lock = threading.Lock()

    def object_id(self, moment: datetime) -> ObjectId:
        with self._lock:
            self._counter = (self._counter + 1) & 0xFFFFFF
            counter = self._counter
        entropy = moment.microsecond.to_bytes(3, "big") + self._process + counter.to_bytes(3, "big")
        return object_id_from(moment, entropy)

    def token_hex(self, nbytes: int) -> str:
        return self.randbytes(nbytes).hex()


T = TypeVar("T")


def aggregate_turn(aggregate_id: UUID) -> str:
    """The key of an aggregate's own turn (`ContextApplication.retrying`): the writers of that aggregate in line."""
    return f"aggregate:{aggregate_id}"


def _no_key(*_: Any, **__: Any) -> None:
    return None


def retried(key: Callable[..., str | None] = _no_key) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """A command method run through `retrying`, every try in the turn that `key` (given the method's own
    arguments) names: a command that changes an aggregate many clients change at once. Without a key, a
    try that lost the race for an aggregate reruns in that aggregate's turn (and, say, finds it deleted)."""

    def wrap(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def run(self: ContextApplication, *args: Any, **kwargs: Any) -> T:
            return self.retrying(lambda: method(self, *args, **kwargs), key=key(*args, **kwargs))

        return run

    return wrap


class Committer(Protocol):
    """Commits a save: appends its stored events and folds the read models kept inline, in one transaction.

    `within(conn)` runs first in that transaction (rows the events refer to, such as blobs)."""

    def commit(
        self,
        app: ContextApplication,
        events: Sequence[Any],
        stored: Sequence[StoredEvent],
        within: Callable[[Any], None] | None,
    ) -> list[Recording[UUID]]: ...

    def serialised(self, key: str | None, *, lost: bool = False) -> AbstractContextManager[None]:
        """Hold `key` against every process's writers of the same key until the block ends (`lost`: the
        block reruns a command that lost a race, and must not lose again; `key` None: no key of its own,
        only what a rerun holds)."""
        ...

    def raced(self, error: IntegrityError) -> str | None:
        """The key whose turn a rerun of a command takes, when `error` says which aggregate's next version
        another writer took first (None: any other conflict)."""
        ...


class ContextApplication(Application[UUID]):
    """One bounded context's event store: its own events table and notification sequence."""

    name: ClassVar[str]
    # How often a command is retried when a concurrent writer won an optimistic-concurrency race.
    conflict_retries: ClassVar[int] = 5

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        clock: Clock = system_clock,
        ids: IdSource | None = None,
        committer: Committer | None = None,
    ) -> None:
        super().__init__(env=env)
        self.clock, self.ids, self.committer = clock, ids or IdSource(), committer

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> ContextApplication:
        """Build this context for a process; contexts that need settings override this."""
        return cls(**kwargs)

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Record the save's events; with a committer, in the transaction that folds the inline read models.

        Without one (a bare context, as some tests and tools build) eventsourcing's recorder appends alone
        and only `chainmail project`-style catch-ups fold what was saved."""
        within = processing_event.saved_kwargs.pop("within", None)
        if self.committer is None:
            if within is not None:
                raise RuntimeError("`within` needs a committer: build the context through System")
            return super()._record(processing_event)
        events = processing_event.events
        if not events:
            return []
        stored = [self.mapper.to_stored_event(e) for e in events]
        recordings = self.committer.commit(self, events, stored, within)
        if self.repository.cache:
            # what was just committed is the cached state to fast-forward from (a get reads only later events)
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot from the aggregate just saved when it is at the snapshot's version, instead of loading
        it again from the store (eventsourcing's way: a snapshot and its events read back every N saves)."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate)) if aggregate is not None else None
            if interval is None or event.originator_version % interval:
                continue
            if aggregate.version == event.originator_version and type(aggregate) not in self.snapshotting_projectors:
                snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
                self.snapshots.put([snapshot_class.take(aggregate)])
            else:
                self.take_snapshot(event.originator_id, version=event.originator_version)

    def serialised(self, key: str | None, *, lost: bool = False) -> AbstractContextManager[None]:
        """Writers of `key` in turn, across processes (the committer's lock); alone, nothing to wait for."""
        return self.committer.serialised(key, lost=lost) if self.committer is not None else nullcontext()

    def retrying(self, command: Callable[[], T], key: str | None = None) -> T:
        """Run a command again when it lost a race; the rerun sees the winner's events. A rerun holds what the
        committer gives a command that lost (on SQLite the file's one writer, from its first read to its
        save), and with a `key` every try runs in the key's turn (on PostgreSQL its lock): sixteen threads of
        two workers awarding one wallet its points lost 20 races in a row on both stores without them.

        A command without a key of its own that loses the race for an aggregate reruns in that aggregate's
        turn, so that its reruns and every other loser's queue instead of racing again: sixteen clients
        changing one user at once on PostgreSQL lost five races in a row one change in five (answered 500)."""
        for attempt in range(self.conflict_retries - 1):
            try:
                with self.serialised(key, lost=attempt > 0):
                    return command()
            except IntegrityError as error:
                if key is None and self.committer is not None:
                    key = self.committer.raced(error)
        with self.serialised(key, lost=self.conflict_retries > 1):
            return command()
