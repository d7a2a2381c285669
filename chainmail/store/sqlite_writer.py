"""The SQLite file's one writer at a time, handed over at once instead of found by polling.

SQLite lets one transaction write at a time; a writer that finds the file taken sleeps in its busy handler
(1, 2, 5, 10, ... up to 100 ms between tries) and tries again, so under a few concurrent writers most of
their time went to sleeping past the moment the file was free (16 clients uploading: p99 439 ms for writes
of about 2 ms each). Here writers queue before `BEGIN IMMEDIATE`: the threads of a process on a lock, the
processes (gunicorn workers, `chainmail project`, the CLI) on an `flock` of a file beside the database,
polled every half millisecond. The turn is given back when the transaction commits or rolls back, by the
connection itself (`TurnConnection`). SQLite's own lock stays what guarantees one writer: a writer that does
not queue here (eventsourcing's own connections, another program) still waits in the busy handler.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: the threads of a process still queue; processes meet in SQLite's lock
    fcntl = None  # type: ignore[assignment]

POLL_SECONDS = 0.0005


class WriterTurn:
    """One database file's turn to write, shared by every engine of the process on that file."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.lock_path = path.with_name(path.name + ".writer")
        self.timeout = timeout
        self._threads = threading.RLock()  # the holder may take it again (`hold`, then its saves)
        self._fd: int | None = None
        self._pid = 0
        self._depth = 0  # how many times the holding thread has taken the turn

    def acquire(self) -> None:
        """Wait for the turn (as long as SQLite's busy timeout); `sqlite3.OperationalError` as SQLite's
        own "database is locked" when it does not come. A thread that holds the turn already (a command
        holding it for its reads and its save, `hold`) takes it again at once, and keeps it until it has
        given it back as many times."""
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError("database is locked (waiting for the writer's turn)")
        self._depth += 1
        if self._depth > 1:  # the file is this thread's already
            return
        try:
            fd = self._file()
            while fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise sqlite3.OperationalError("database is locked (waiting for the writer's turn)") from None
                    time.sleep(POLL_SECONDS)
        except BaseException:
            self._depth -= 1
            self._threads.release()
            raise

    def release(self) -> None:
        self._depth -= 1
        try:
            if not self._depth and self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """The turn for a whole block: its reads see the last commit, and no other writer commits before the
        block's saves (which take the turn again, at once)."""
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def _file(self) -> int | None:
        """The lock file, opened once per process: a descriptor inherited across a fork would share its lock
        with the parent."""
        if fcntl is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd


_turns: dict[Path, WriterTurn] = {}
_turns_lock = threading.Lock()


def writer_turn(path: Path, timeout: float) -> WriterTurn:
    key = path.resolve()
    with _turns_lock:
        found = _turns.get(key)
        if found is None:
            found = _turns[key] = WriterTurn(key, timeout)
        return found


class TurnConnection(sqlite3.Connection):
    """A pysqlite connection that gives the writer's turn back when its write transaction ends."""

    turn: WriterTurn | None = None
    holding = False

    def begin_write(self) -> None:
        """Queue for the turn, then `BEGIN IMMEDIATE` (which then finds the file free)."""
        assert self.turn is not None
        self.turn.acquire()
        self.holding = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._give_back()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:  # a commit that failed leaves the transaction for a rollback
                self._give_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_back()

    def _give_back(self) -> None:
        if self.holding:
            self.holding = False
            assert self.turn is not None
            self.turn.release()
