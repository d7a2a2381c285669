"""The gunicorn worker `chainmail serve` runs: gunicorn's asyncio worker, taking its share of connections.

Every worker waits on the one listening socket the master opened. asyncio accepts, each time that socket
is ready, as many connections as are waiting (up to 100), so the worker that wakes first takes a whole burst:
sixteen connections opened at once to four idle workers of gunicorn's were held 14/1/1, 16, 7/6/3 and
13/1/1/1 (measured; under upload load 9/4/2/1). A worker serves its requests under one interpreter lock, so
the clients of the busiest worker waited on it while the others idled (one worker of four is at most one core
of the machine's), and they made the slowest answers.

Here a worker accepts one connection each time the socket is ready (as nginx does unless told
`multi_accept`), and leaves it, for at most `YIELD_FOR` seconds, to any other live worker that holds fewer
open connections than it does, then takes it itself: a worker that is stuck never holds a connection back for
long. The workers publish their counts in a small table of memory the master maps before it forks them
(`Shares`); one that has not said it is alive for `ALIVE_FOR` seconds is not waited for. The same bursts were
held 4/4/4/4 (three runs of four; the first, with workers still starting, 6/5/3/2), and 5/4/4/3 under load.

asyncio also passes its backlog to `listen()`, which resized the queue of the socket every worker shares:
each worker that started left the master's configured backlog (2048) at asyncio's 100. The socket asyncio is
given here keeps the configured one.

It hooks gunicorn 27's `ASGIWorker._setup_event_loop`, not a public interface: pyproject.toml keeps gunicorn
below 28, and `tests/unit/test_worker.py` tells if a release moves it.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from gunicorn.workers.gasgi import ASGIWorker

SLOTS = 64  # workers a master can have at once that share connections fairly; more share a slot (age modulo)
YIELD_FOR = 0.002  # seconds a worker holding more connections than another leaves a waiting one to it
ALIVE_FOR = 5.0  # seconds since a worker last said it was alive after which its count is not looked at
_SLOT = struct.Struct("=dq")  # last seen alive (monotonic seconds), open connections


class Shares:
    """The open connections of each worker, in memory every worker of one master shares (made before the
    fork: an anonymous shared mapping), one slot a worker."""

    def __init__(self, table: mmap.mmap | None = None) -> None:
        self.table = table if table is not None else mmap.mmap(-1, SLOTS * _SLOT.size)

    def publish(self, slot: int, connections: int) -> None:
        _SLOT.pack_into(self.table, slot * _SLOT.size, time.monotonic(), connections)

    def fewest_elsewhere(self, slot: int) -> int | None:
        """The fewest connections a live worker other than `slot`'s holds (None: no other is alive)."""
        now, fewest = time.monotonic(), None
        for other in range(SLOTS):
            if other == slot:
                continue
            seen, connections = _SLOT.unpack_from(self.table, other * _SLOT.size)
            if seen and now - seen < ALIVE_FOR and (fewest is None or connections < fewest):
                fewest = connections
        return fewest


SHARES = Shares()  # mapped when gunicorn's master loads this worker class, before it forks any worker


class _Connection(socket.socket):
    """An accepted connection that tells when it is closed (by its transport, once)."""

    on_close: Callable[[], None] | None = None

    def close(self) -> None:
        closed, self.on_close = self.on_close, None
        super().close()
        if closed is not None:
            closed()


class _Listener(socket.socket):
    """The master's listening socket (a descriptor of its own, so that closing it here leaves gunicorn's alone)
    whose `listen()` keeps the configured backlog, whatever asyncio asks for, and whose `accept()` leaves a
    waiting connection to a worker holding fewer (`Worker.yields`) and counts the connections it gives."""

    backlog: int
    worker: Worker

    def listen(self, _asked: int = 0) -> None:
        super().listen(self.backlog)

    def accept(self) -> tuple[socket.socket, Any]:
        if self.worker.yields():
            raise BlockingIOError  # asyncio then waits for the socket to be ready again
        fd, address = self._accept()  # type: ignore[attr-defined]  # as socket.accept, into a counted socket
        connection = _Connection(self.family, self.type, self.proto, fileno=fd)
        self.worker.counted(+1)
        connection.on_close = lambda: self.worker.counted(-1)
        return connection, address


class Worker(ASGIWorker):
    shares: Shares = SHARES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot = self.age % SLOTS
        self.open_connections = 0
        self._yielding_since: float | None = None
        self._last_yielded = 0.0

    def notify(self) -> None:  # every second from the worker's loop: alive, and how many connections it holds
        super().notify()
        self.shares.publish(self.slot, self.open_connections)

    def yields(self) -> bool:
        """Whether to leave a waiting connection to another worker: one holds fewer, and this one has not yet
        left it for `YIELD_FOR` (a short sleep each time, that the loop does not spin on the ready socket)."""
        fewest = self.shares.fewest_elsewhere(self.slot)
        if fewest is None or self.open_connections <= fewest:
            self._yielding_since = None
            return False
        now = time.monotonic()
        if self._yielding_since is None or now - self._last_yielded > 25 * YIELD_FOR:  # not asked of late
            self._yielding_since = now
        self._last_yielded = now
        if now - self._yielding_since >= YIELD_FOR:
            self._yielding_since = None  # this one is taken after all: the next waiting one is left anew
            return False
        time.sleep(YIELD_FOR / 8)
        return True

    def counted(self, delta: int) -> None:
        self.open_connections += delta
        self.shares.publish(self.slot, self.open_connections)

    def _setup_event_loop(self) -> None:
        super()._setup_event_loop()
        loop = self.loop
        assert loop is not None
        create_server = loop.create_server
        backlog = int(self.cfg.backlog)

        async def shared(factory: Any, *args: Any, sock: Any = None, **kwargs: Any) -> asyncio.Server:
            if sock is not None:
                listener = _Listener(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
                listener.backlog, listener.worker = backlog, self
                sock = listener
            kwargs["backlog"] = 1  # the connections asyncio accepts each time the socket is ready
            return await create_server(factory, *args, sock=sock, **kwargs)

        loop.create_server = shared  # type: ignore[method-assign]
        self.shares.publish(self.slot, 0)
