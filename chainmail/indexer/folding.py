"""Read models folded beside ingestion: the indexer appends pages through a chain context of its own
(no read-your-writes catch-up inside each save) while a thread folds the chain read models, so database
waits of the two overlap. `drain()` returns once every appended event is folded."""

from __future__ import annotations

import threading

import structlog

from chainmail.domain.chain.application import Chain
from chainmail.store.events import event_store_env
from chainmail.system import System

log = structlog.get_logger(__name__)


def unhooked_chain(system: System) -> Chain:
    """A chain context on the system's store whose saves do not wait for the read models."""
    env = event_store_env(system.settings.database_url, create_tables=False)
    app = Chain.from_settings(system.settings, env=env)
    assert isinstance(app, Chain)
    return app


class BackgroundFolding:
    def __init__(self, system: System, idle: float = 0.05) -> None:
        self.runner, self.app = system.projections, system.context(Chain)
        # the read models a save would fold (read your writes); the asynchronous ones are `chainmail project`'s
        self.projections = [
            p
            for p in self.runner.projections.values()
            if p.synchronous and any(a.name == Chain.name for a in p.follows)
        ]
        self.idle = idle
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fold-chain", daemon=True)
        self._thread.start()

    def fold_once(self) -> int:
        return sum(self.runner.catch_up(projection, self.app) for projection in self.projections)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.fold_once() == 0:
                    self._stop.wait(self.idle)
            except Exception as error:  # kept and re-raised by drain(); the next round starts from the store
                log.warning("folding chain read models failed", error=str(error))
                self.error = error
                self._stop.wait(1.0)

    def drain(self) -> None:
        """Stop the thread and fold whatever is left."""
        self._stop.set()
        self._thread.join()
        while self.fold_once():
            pass
