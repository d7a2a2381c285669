"""eventsourcing's SQLite persistence with one events table per application (`mail_events`, ...),
as on PostgreSQL, instead of a `stored_events` table shared by every application in the file."""

from __future__ import annotations

import eventsourcing.sqlite as es_sqlite
from eventsourcing.persistence import ApplicationRecorder


# eventsourcing looks for exactly one factory class in this module, so its base is not imported by name.
class Factory(es_sqlite.SQLiteFactory):
    def application_recorder(self) -> ApplicationRecorder:
        recorder = self.application_recorder_class(
            datastore=self.datastore,
            events_table_name=f"{self.env.name.lower() or 'stored'}_events",
        )
        if self.env_create_table():
            recorder.create_table()
        return recorder
