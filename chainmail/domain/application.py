"""The base of every bounded context's command side: an eventsourcing Application with an injected
clock and id source, and a hook that lets the read side catch up after each save."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Recording

from chainmail.domain.ids import ObjectId, object_id_from


class Clock(Protocol):
    def __call__(self) -> datetime: ...


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class IdSource:
    """Randomness for ids, salts and tokens; tests pass a seeded `randbytes`.

    ObjectIds are made as MongoDB makes them: seconds, 5 bytes fixed per process, a 3-byte counter,
    so ids from one process sort in the order they were made.
    """

    randbytes: Callable[[int], bytes] = field(default=secrets.token_bytes)

    def __post_init__(self) -> None:
        self._process = self.randbytes(5)
        self._counter = int.from_bytes(self.randbytes(3), "big")
        self._lock = threading.Lock()

    def object_id(self, moment: datetime) -> ObjectId:
        with self._lock:
            self._counter = (self._counter + 1) & 0xFFFFFF
            counter = self._counter
        return object_id_from(moment, self._process + counter.to_bytes(3, "big"))

    def token_hex(self, nbytes: int) -> str:
        return self.randbytes(nbytes).hex()


T = TypeVar("T")
# Told after each save: the application and what it recorded (the domain events with their notifications).
Saved = Callable[["ContextApplication", Sequence[Recording[UUID]]], None]


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
        on_saved: Saved | None = None,
    ) -> None:
        super().__init__(env=env)
        self.clock, self.ids, self.on_saved = clock, ids or IdSource(), on_saved

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> ContextApplication:
        """Build this context for a process; contexts that need settings override this."""
        return cls(**kwargs)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        recordings = super().save(*objs, **kwargs)
        if recordings and self.on_saved is not None:
            self.on_saved(self, recordings)
        return recordings

    def retrying(self, command: Callable[[], T]) -> T:
        """Run a command again when it lost a race; the rerun sees the winner's events."""
        for _attempt in range(self.conflict_retries - 1):
            try:
                return command()
            except IntegrityError:
                continue
        return command()
