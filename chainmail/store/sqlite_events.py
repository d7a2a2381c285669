"""eventsourcing's SQLite persistence with one events table per application (`mail_events`, ...),
as on PostgreSQL, instead of a `stored_events` table shared by every application in the file."""

from __future__ import annotations

from typing import Any

import eventsourcing.sqlite as es_sqlite
from eventsourcing.persistence import ApplicationRecorder

POOL_TIMEOUT_SECONDS = 30.0


# eventsourcing looks for exactly one factory class in this module, so its base is not imported by name.
class Factory(es_sqlite.SQLiteFactory):
    def __init__(self, env: Any) -> None:
        super().__init__(env)
        # Threads of one process queue for the file's single writer; let them wait as long as SQLite's
        # own busy timeout instead of giving up after eventsourcing's default of 5 s.
        self.datastore.pool.pool_timeout = POOL_TIMEOUT_SECONDS

    def application_recorder(self) -> ApplicationRecorder:
        recorder = self.application_recorder_class(
            datastore=self.datastore,
            events_table_name=f"{self.env.name.lower() or 'stored'}_events",
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder
