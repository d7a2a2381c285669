"""Many rows into one table in one go: PostgreSQL's COPY where it applies, an executemany insert elsewhere.

COPY sends rows as one stream without per-row statement handling, several times cheaper than an insert
per row; it is used for batches big enough to pay for its set-up, on tables whose missing columns have
no Python-side default (COPY would leave them to the server).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from sqlalchemy import JSON, Boolean, Connection, Table, insert
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
