"""Concurrent appends to one mailbox in one process are saved together: one `MessagesAppended` event, one
version of the Mailbox, one transaction, instead of each racing the others for the next version.

The first caller for a mailbox leads: it takes everything queued for that mailbox and saves it in one go,
then hands the lead to the next waiting caller (so no request serves the others for ever). Each append is
worked out (`Stage`) in the account's turn, from reads sent with the turn's lock and what the appends before
it add; one that is refused (over quota) leaves the others of its batch to be saved. Writers in other
processes still meet in the Mailbox's version and rerun, so UIDs stay unique and sequential.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

Within = Callable[[Any], None]
Companions = Callable[[], Sequence[Any]]  # new aggregates saved with the append, built again if it reruns


@dataclass(frozen=True)
class Staged:
    """What an append stores, worked out once the account's turn is held: its messages' facts, what runs in
    the save's transaction (`within(conn)`: the blobs the facts name) and what it adds to the account's
    limited counts (`{"storage": bytes}`, a submission's `{"recipients": n}`)."""

    messages: list[dict[str, Any]]
    within: Within | None
    adds: Mapping[str, int]


# Works out an append in the account's turn, given what the appends before it in the batch add to the account's
# limited counts (the quota and the sending limit count them too); a DomainError it raises refuses that append
# alone.
Stage = Callable[[Mapping[str, int]], Staged]
# Registers the reads a stage makes, for the turn's lock to send them in its own round trip.
InTurn = Callable[[], AbstractContextManager[None]]


@dataclass
class Append:
    stage: Stage
    in_turn: InTurn | None = None
    companions: Companions | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    uids: list[int] | None = None
    error: BaseException | None = None


@dataclass
class _Queue:
    waiting: list[Append] = field(default_factory=list)
    busy: bool = False


# Stores a batch; answers each append's UIDs, or the error that refused it alone.
SaveBatch = Callable[[Sequence[Append]], list[list[int] | BaseException]]


class AppendBatches:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], _Queue] = {}

    def append(
        self,
        key: tuple[str, str],
        stage: Stage,
        save: SaveBatch,
        *,
        in_turn: InTurn | None = None,
        companions: Companions | None = None,
    ) -> list[int]:
        """Queue an append (`stage` works out its messages) for the mailbox `key`; `save(batch)` stores a batch
        and answers each one's UIDs or error."""
        mine = Append(stage, in_turn, companions)
        with self._lock:
            queue = self._queues.setdefault(key, _Queue())
            queue.waiting.append(mine)
            mine.leads = not queue.busy
            queue.busy = True
        if not mine.leads:
            mine.ready.wait()
        if mine.leads:  # first in, or handed the lead by the caller before
            with self._lock:
                batch, queue.waiting = queue.waiting, []
            try:
                for append, outcome in zip(batch, save(batch), strict=True):
                    if isinstance(outcome, BaseException):
                        append.error = outcome
                    else:
                        append.uids = outcome
            except BaseException as error:
                for append in batch:
                    append.error = error
            with self._lock:
                if queue.waiting:
                    queue.waiting[0].leads = True
                    queue.waiting[0].ready.set()
                else:
                    queue.busy = False
                    del self._queues[key]
            for append in batch:
                if append is not mine:
                    append.ready.set()
        if mine.error is not None:
            raise mine.error
        assert mine.uids is not None
        return mine.uids


def within_all(staged: Sequence[Staged]) -> Within | None:
    """One `within` that runs each append's own, in order."""
    steps = [s.within for s in staged if s.within is not None]
    if not steps:
        return None

    def run(conn: Any) -> None:
        for step in steps:
            step(conn)

    return run


def companions_of(batch: Sequence[Append]) -> list[Any]:
    """The aggregates every append of `batch` saves with its messages, built afresh (a save that reruns
    after a conflict must not reuse aggregates whose events the failed attempt already collected)."""
    return [aggregate for a in batch if a.companions is not None for aggregate in a.companions()]
