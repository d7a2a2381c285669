"""eventsourcing's SQLite persistence with one events table per application (`mail_events`, ...),
as on PostgreSQL, instead of a `stored_events` table shared by every application in the file, and
appends in the caller's transaction (`append_on`), so read models fold in the same commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import eventsourcing.sqlite as es_sqlite
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from sqlalchemy import Connection

POOL_TIMEOUT_SECONDS = 30.0


class TransactionalRecorder(es_sqlite.SQLiteApplicationRecorder):
    def append_on(self, conn: Connection, stored_events: Sequence[StoredEvent]) -> list[int]:
        """Insert `stored_events` in `conn`'s open (write) transaction; their notification ids (rowids).

        One writer at a time holds the file, so rowids are handed out in commit order."""
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        cursor = raw.cursor()
        ids: list[int] = []
        try:
            for e in stored_events:
                originator = e.originator_id.hex if isinstance(e.originator_id, UUID) else e.originator_id
                cursor.execute(self.insert_events_statement, (originator, e.originator_version, e.topic, e.state))
                ids.append(int(cursor.lastrowid or 0))
        except sqlite3.IntegrityError as error:
            raise IntegrityError(error) from error
        finally:
            cursor.close()
        return ids


# eventsourcing looks for exactly one factory class in this module, so its base is not imported by name.
class Factory(es_sqlite.SQLiteFactory):
    application_recorder_class = TransactionalRecorder

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
