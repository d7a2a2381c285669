"""The gunicorn worker `chainmail serve` runs: gunicorn's asyncio worker, taking its share of connections.

Every worker waits on the one listening socket the master opened. asyncio accepts, each time that socket
is ready, as many connections as are waiting (up to its backlog, 100), so the worker that wakes first takes a
whole burst: sixteen clients connecting at once were held 9, 4, 2 and 1 by four workers (measured). A worker
serves its requests under one interpreter lock, so the clients of the busiest worker waited on it while the
others idled, and they made the slowest answers. Here a worker accepts one connection each time the socket
is ready (as nginx does unless told `multi_accept`): the next waiting connection goes to whichever worker is
free to take it first, a busy worker (whose event loop waits for the lock) being the last to get there.

asyncio also passes its backlog to `listen()`, which resized the queue of the socket every worker shares:
each worker that started left the master's configured backlog (2048) at asyncio's 100. The socket asyncio is
given here keeps the configured one.

It hooks gunicorn 27's `ASGIWorker._setup_event_loop`, not a public interface: pyproject.toml keeps gunicorn
below 28, and `tests/unit/test_worker.py` tells if a release moves it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from gunicorn.workers.gasgi import ASGIWorker


class _Listener(socket.socket):
    """The master's listening socket (a descriptor of its own, so that closing it here leaves gunicorn's alone)
    whose `listen()` keeps the configured backlog, whatever asyncio asks for."""

    backlog: int

    def listen(self, _asked: int = 0) -> None:
        super().listen(self.backlog)


class Worker(ASGIWorker):
    def _setup_event_loop(self) -> None:
        super()._setup_event_loop()
        loop = self.loop
        assert loop is not None
        create_server = loop.create_server
        backlog = int(self.cfg.backlog)

        async def one_at_a_time(factory: Any, *args: Any, sock: Any = None, **kwargs: Any) -> asyncio.Server:
            if sock is not None:
                listener = _Listener(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
                listener.backlog = backlog
                sock = listener
            kwargs["backlog"] = 1  # the connections asyncio accepts each time the socket is ready
            return await create_server(factory, *args, sock=sock, **kwargs)

        loop.create_server = one_at_a_time  # type: ignore[method-assign]
