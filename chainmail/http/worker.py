"""The gunicorn worker `chainmail serve` runs: gunicorn's asyncio worker, taking its share of connections.

Every worker waits on the one listening socket the master opened. asyncio accepts, each time that socket
is ready, as many connections as are waiting (up to its backlog, 100), so the worker that wakes first takes a
whole burst: sixteen clients connecting at once were held 9, 4, 2 and 1 by four workers (measured). A worker
serves its requests under one interpreter lock, so the clients of the busiest worker waited on it while the
others idled, and they made the slowest answers. Here a worker accepts one connection each time the socket
is ready: the next waiting connection goes to whichever worker is free to take it first, a busy worker
(whose event loop waits for the lock) being the last to get there.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gunicorn.workers.gasgi import ASGIWorker


class Worker(ASGIWorker):
    def _setup_event_loop(self) -> None:
        super()._setup_event_loop()
        loop = self.loop
        assert loop is not None
        create_server = loop.create_server
        backlog = int(self.cfg.backlog)

        async def one_at_a_time(factory: Any, *args: Any, sock: Any = None, **kwargs: Any) -> asyncio.Server:
            # asyncio accepts up to `backlog` connections a turn, and also passes it to listen(): the socket
            # gets the master's backlog again at once (a listen() on a listening socket only resizes its queue)
            kwargs["backlog"] = 1
            server = await create_server(factory, *args, sock=sock, **kwargs)
            if sock is not None:
                sock.listen(backlog)
            return server

        loop.create_server = one_at_a_time  # type: ignore[method-assign]
