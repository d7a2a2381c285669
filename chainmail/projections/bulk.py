"""Many rows into one table in one go: PostgreSQL's COPY where it applies, an executemany insert elsewhere.

COPY sends rows as one stream without per-row statement handling, several times cheaper than an insert
per row; it is used for batches big enough to pay for its set-up, on tables whose missing columns have
no Python-side default (COPY would leave them to the server).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg
from sqlalchemy import JSON, Boolean, Connection, Table, Text, bindparam, cast, func, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from chainmail.store.json_values import json_text

COPY_FROM_ROWS = 50


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (all with the same keys) into `table` on `conn`'s transaction."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM_ROWS and _copyable(table, rows):
        _copy(conn, table, rows)
    else:
        conn.execute(insert(table), list(rows))


def _copyable(table: Table, rows: Sequence[dict[str, Any]]) -> bool:
    row = rows[0]
    if not all(name in row or (column.default is None and column.onupdate is None) for name, column in table.c.items()):
        return False
    # an insert stores None in a JSON column as JSON null, COPY would store SQL NULL: leave those to the insert
    json_columns = [n for n in row if isinstance(table.c[n].type, JSON) and not table.c[n].type.none_as_null]
    return not any(r[n] is None for n in json_columns for r in rows)


def _copy(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    dialect = conn.dialect
    names = list(rows[0])
    values_of = operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    converted = [(i, p) for i, p in enumerate(_converter(table.c[n].type, dialect) for n in names) if p is not None]
    quote = dialect.identifier_preparer
    statement = f"COPY {quote.format_table(table)} ({', '.join(quote.quote(n) for n in names)}) FROM STDIN"
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            if not converted:
                for row in rows:
                    copy.write_row(values_of(row))
            else:
                for row in rows:
                    values = list(values_of(row))
                    for i, convert in converted:
                        if values[i] is not None:
                            values[i] = convert(values[i])
                    copy.write_row(values)
    except psycopg.Error as error:  # the same exception an insert would raise (IntegrityError, ...)
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error


def _converter(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """What an insert would do to a value of this column type before sending it (None: nothing), with COPY's
    text format in mind: JSON goes as its text (the dialect's serializer if configured, else orjson's),
    booleans as they are (SQLAlchemy's processor only checks them)."""
    if isinstance(type_, JSON):
        return getattr(dialect, "_json_serializer", None) or json_text
    if isinstance(type_, Boolean):
        return None
    processor: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


class Upsert:
    """Insert rows, or update the row already there under the same key, all in one statement.

    On PostgreSQL the rows go as one JSON parameter (`INSERT ... SELECT FROM json_populate_recordset(...)
    ON CONFLICT DO UPDATE`): one statement and one round trip whatever their number, where an executemany
    costs a statement per row (and orjson writes the JSON faster than the driver adapts arrays). SQLite
    runs in-process, so there it is an executemany of the same upsert.
    `update(table, excluded)` gives the new value of each column to change (default: every non-key column
    takes the incoming row's value). The rows of one call must have distinct keys.
    """

    def __init__(
        self,
        table: Table,
        keys: Sequence[str],
        update: Callable[[Table, Any], dict[str, Any]] | None = None,
    ) -> None:
        self.table, self.keys = table, list(keys)
        self.update = update or (lambda t, new: {c.name: new[c.name] for c in t.columns if c.name not in self.keys})
        self._built: dict[tuple[str, tuple[str, ...]], Any] = {}

    def __call__(self, conn: Any, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = conn.dialect.name
        names = tuple(rows[0])
        statement = self._built.get((dialect, names))
        if statement is None:
            statement = self._built[(dialect, names)] = self._statement(dialect, names)
        if dialect == "postgresql":
            conn.execute(statement, {"rows": orjson.dumps(rows).decode()})
        else:
            conn.execute(statement, list(rows))

    def _statement(self, dialect: str, names: tuple[str, ...]) -> Any:
        t = self.table
        if dialect == "postgresql":
            quoted = postgresql.dialect().identifier_preparer.format_table(t)
            given = func.json_populate_recordset(
                literal_column(f"NULL::{quoted}"), cast(bindparam("rows", type_=Text), postgresql.JSON)
            ).table_valued(*names)
            stmt = postgresql.insert(t).from_select(list(names), select(*[given.c[n] for n in names]))
        else:
            stmt = sqlite.insert(t)
        keys = [t.c[k] for k in self.keys]
        return stmt.on_conflict_do_update(index_elements=keys, set_=self.update(t, stmt.excluded))


def rows_with_keys(conn: Any, query: Any, column: Any, keys: Sequence[Any]) -> list[Any]:
    """The rows of `query` whose `column` is one of `keys`: on PostgreSQL one statement with the keys as one
    JSON parameter (planned once whatever their number), elsewhere an IN list per 500 keys."""
    if not keys:
        return []
    if conn.dialect.name == "postgresql":
        given = func.json_array_elements_text(cast(bindparam("keys", type_=Text), postgresql.JSON))
        wanted = column.in_(select(cast(given, column.type)))
        return conn.execute(query.where(wanted), {"keys": orjson.dumps(list(keys)).decode()}).all()
    found = []
    for offset in range(0, len(keys), 500):
        found.extend(conn.execute(query.where(column.in_(keys[offset : offset + 500]))).all())
    return found
