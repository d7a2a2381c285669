"""eventsourcing's PostgreSQL persistence, with new events sent to the server in binary: their state is
`bytea`, which the text format escapes byte by byte (a page of chain logs is megabytes of it)."""

from __future__ import annotations

from typing import Any

import eventsourcing.postgres as es_postgres
from psycopg.sql import SQL, Composable, Composed


def _binary_placeholders(query: Composable) -> Composable:
    """The same statement with `%b` (a parameter sent in binary) for each `%s`."""
    if isinstance(query, Composed):
        return Composed([_binary_placeholders(part) for part in query])
    if isinstance(query, SQL):
        return SQL(query.as_string().replace("%s", "%b"))
    return query


class BinaryInsertRecorder(es_postgres.PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # eventsourcing's insert (one array of its composite type, RETURNING the notification ids)
        self.insert_events_statement = _binary_placeholders(self.insert_events_statement)


# eventsourcing looks for exactly one factory class in this module, so its base is not imported by name.
class Factory(es_postgres.PostgresFactory):
    application_recorder_class = BinaryInsertRecorder
