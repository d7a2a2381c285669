"""Concurrent appends to one mailbox in one process are saved together: one `MessagesAppended` event, one
version of the Mailbox, one transaction, instead of each racing the others for the next version.

The first caller for a mailbox leads: it takes everything queued for that mailbox and saves it in one go,
then hands the lead to the next waiting caller (so no request serves the others for ever). Writers in
other processes still meet in the Mailbox's version and rerun, so UIDs stay unique and sequential.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Within = Callable[[Any], None]
Companions = Callable[[], Sequence[Any]]  # new aggregates saved with the append, built again if it reruns


@dataclass
class Append:
    messages: list[dict[str, Any]]
    within: Within | None
    companions: Companions | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    uids: list[int] | None = None
    error: BaseException | None = None


@dataclass
class _Queue:
    waiting: list[Append] = field(default_factory=list)
    busy: bool = False


SaveBatch = Callable[[Sequence[Append]], list[list[int]]]


class AppendBatches:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], _Queue] = {}

    def append(
        self,
        key: tuple[str, str],
        messages: list[dict[str, Any]],
        within: Within | None,
        save: SaveBatch,
        companions: Companions | None = None,
    ) -> list[int]:
        """Queue `messages` for the mailbox `key`; `save(batch)` stores a batch and answers each one's UIDs."""
        mine = Append(messages, within, companions)
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
                for append, uids in zip(batch, save(batch), strict=True):
                    append.uids = uids
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


def within_all(batch: Sequence[Append]) -> Within | None:
    """One `within` that runs each append's own, in order."""
    steps = [a.within for a in batch if a.within is not None]
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
