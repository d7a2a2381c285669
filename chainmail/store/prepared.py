"""Statements built once and compiled once per dialect, then run straight on the driver's cursor.

The hot writes (an upload folds five read-model statements, a flag change two) spent more time in
SQLAlchemy than in the database: building the statement, its cache key, the execution context and the
result object cost about 150 µs of Python each, the driver's own execute about 15 µs. A `Prepared`
statement keeps what SQLAlchemy compiled (the SQL, the order of its parameters and the type processors
that turn Python values into the driver's) and does only the last step per call, the same conversion
SQLAlchemy's execution context does (`DefaultExecutionContext._init_compiled`). Statements whose
execution needs more than that (Python-side column defaults, RETURNING, expanding IN lists, schema
translation) run through `Connection.execute` as before, so a `Prepared` is never wrong, only sometimes
not faster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Executable

Params = Mapping[str, Any]


class _Compiled(NamedTuple):
    sql: str
    names: tuple[str, ...]  # the parameters, in the order a positional driver takes them (or by name)
    positional: bool
    fixed: dict[str, Any]  # values the statement carries itself (literals compiled as parameters)
    processors: dict[str, Callable[[Any], Any]]
    escaped: dict[str, str]
    direct: bool  # False: run through SQLAlchemy (the statement needs more than its parameters)
    columns: tuple[tuple[str, Any], ...]  # a select's result columns: (key, type)


class Prepared:
    """A statement with named `bindparam`s, built once; `run(conn, params)` executes it (no result), `rows`
    and `first` return a select's rows as dicts keyed as SQLAlchemy's `row._mapping` is.

    `column_keys`: for an insert without explicit values, the columns each row gives."""

    __slots__ = ("_compiled", "_readers", "column_keys", "statement")

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self.statement, self.column_keys = statement, list(column_keys) if column_keys is not None else None
        self._compiled: dict[str, _Compiled] = {}
        self._readers: dict[str, tuple[tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]]] = {}

    def first(self, conn: Connection, params: Params) -> dict[str, Any] | None:
        """The first row of a select, or None."""
        found = self.rows(conn, params)
        return found[0] if found else None

    def rows(self, conn: Connection, params: Params) -> list[dict[str, Any]]:
        """A select's rows, each value as SQLAlchemy's result would give it (its result processors applied)."""
        compiled = self._compiled_for(conn)
        if not compiled.direct:
            return [dict(row._mapping) for row in conn.execute(self.statement, params)]
        with _driver_cursor(conn, compiled.sql) as cursor:
            cursor.execute(compiled.sql, _driver_params(compiled, params))
            return self._read(conn, compiled, cursor)

    def send(self, conn: Connection, params: Params) -> Callable[[], list[dict[str, Any]]]:
        """Execute a select now and read its rows later (the function returned, called once): in a pipeline
        (psycopg's), the select goes out with the statements around it and is answered at the sync."""
        compiled = self._compiled_for(conn)
        if not compiled.direct:
            found = self.rows(conn, params)
            return lambda: found
        with ExitStack() as stack:
            cursor = stack.enter_context(_driver_cursor(conn, compiled.sql))
            cursor.execute(compiled.sql, _driver_params(compiled, params))
            opened = stack.pop_all()

        def read() -> list[dict[str, Any]]:
            with opened, _driver_errors(conn, compiled.sql):
                return self._read(conn, compiled, cursor)

        return read

    def _read(self, conn: Connection, compiled: _Compiled, cursor: Any) -> list[dict[str, Any]]:
        found = cursor.fetchall()
        reader = self._readers.get(conn.dialect.name)
        if reader is None:
            reader = self._readers[conn.dialect.name] = _reader(conn, compiled, cursor.description)
        keys, processors = reader
        if not any(processors):
            return [dict(zip(keys, row, strict=True)) for row in found]
        return [
            {key: value if p is None else p(value) for key, p, value in zip(keys, processors, row, strict=True)}
            for row in found
        ]

    def run(self, conn: Connection, params: Params | Sequence[Params]) -> None:
        """Execute with one set of parameters, or once per set (a sequence of mappings)."""
        many = not isinstance(params, Mapping)
        if many:
            if not params:
                return
            if len(params) == 1:  # the driver's executemany pipelines: for one row, a plain execute is cheaper
                params, many = params[0], False  # type: ignore[index]
        compiled = self._compiled_for(conn)
        if not compiled.direct:
            conn.execute(self.statement, list(params) if many else params)
            return
        values = [_driver_params(compiled, p) for p in params] if many else _driver_params(compiled, params)  # type: ignore[arg-type]
        if getattr(conn, "pipelined", False):  # a fold's writes (`BatchedWrites`): sent now, answered at its sync
            conn.send(compiled.sql, values, many=many)  # type: ignore[attr-defined]
            return
        with _driver_cursor(conn, compiled.sql) as cursor:
            if many:
                cursor.executemany(compiled.sql, values)  # type: ignore[union-attr]
            else:
                cursor.execute(compiled.sql, values)

    def _compiled_for(self, conn: Connection) -> _Compiled:
        dialect = conn.dialect  # read once
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(conn)
        return compiled

    def _compile(self, conn: Connection) -> _Compiled:
        compiled = self.statement.compile(dialect=conn.dialect, column_keys=self.column_keys)  # type: ignore[attr-defined]
        assert isinstance(compiled, SQLCompiler)
        direct = not (
            compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.returning
            or compiled.literal_execute_params
            or compiled.post_compile_params
            or compiled.schema_translate_map
            or compiled.isplaintext  # text(): SQLAlchemy's own execute is already cheap, keep its conversions
        )
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.bind_names.values())
        fixed = {
            name: bind.effective_value
            for bind, name in compiled.bind_names.items()
            if not bind.required and bind.callable is None
        }
        return _Compiled(
            sql=compiled.string,
            names=names,
            positional=compiled.positional,
            fixed=fixed,
            processors=dict(compiled._bind_processors),  # type: ignore[arg-type]
            escaped=dict(compiled.escaped_bind_names or {}),
            direct=direct,
            columns=tuple((c.keyname, c.type) for c in compiled._result_columns),
        )


def read_together(conn: Connection, reads: Sequence[tuple[Prepared, Params]]) -> list[list[dict[str, Any]]]:
    """The rows of several selects (`Prepared.rows` of each, in order). On PostgreSQL, outside a
    transaction, they go out together in psycopg's pipeline mode and are answered in one round trip, where
    one after the other costs a round trip each; each still reads with a snapshot of its own, as it would
    alone in autocommit."""
    compiled = [prepared._compiled_for(conn) for prepared, _params in reads]
    raw = conn.connection.driver_connection
    together = (
        conn.dialect.name == "postgresql"
        and len(reads) > 1
        and all(c.direct for c in compiled)
        and raw.autocommit  # type: ignore[union-attr]
        and raw.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF  # type: ignore[union-attr]
    )
    if not together:
        return [prepared.rows(conn, params) for prepared, params in reads]
    with ExitStack() as stack:
        cursors = [stack.enter_context(_driver_cursor(conn, c.sql)) for c in compiled]
        with _driver_errors(conn, compiled[0].sql), raw.pipeline():  # type: ignore[union-attr]
            for cursor, c, (_prepared, params) in zip(cursors, compiled, reads, strict=True):
                cursor.execute(c.sql, _driver_params(c, params))
        return [
            prepared._read(conn, c, cursor)
            for cursor, c, (prepared, _params) in zip(cursors, compiled, reads, strict=True)
        ]


@contextmanager
def _driver_errors(conn: Connection, sql: str) -> Iterator[None]:
    """The driver's errors raised as the exception SQLAlchemy's execute would raise (IntegrityError,
    OperationalError, ...), so that callers tell a conflict from a bug as before."""
    driver_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except driver_error as error:
        raise DBAPIError.instance(sql, None, error, driver_error) from error


@contextmanager
def _driver_cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """A cursor of the driver's, closed afterwards; its errors raised as SQLAlchemy's (`_driver_errors`)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        with _driver_errors(conn, sql):
            yield cursor
    finally:
        cursor.close()


def _reader(
    conn: Connection, compiled: _Compiled, description: Any
) -> tuple[tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]]:
    """The keys of a select's columns and the processors SQLAlchemy applies to their values (chosen, as
    SQLAlchemy chooses them, from each column's type and the type the driver reports)."""
    assert len(compiled.columns) == len(description)
    keys = tuple(key for key, _type in compiled.columns)
    processors = tuple(
        type_._cached_result_processor(conn.dialect, d[1])
        for (_key, type_), d in zip(compiled.columns, description, strict=True)
    )
    return keys, processors


def _driver_params(compiled: _Compiled, params: Params) -> Any:
    processors, fixed = compiled.processors, compiled.fixed
    values = []
    for name in compiled.names:
        value = params[name] if name in params else fixed[name]
        processor = processors.get(name)
        values.append(processor(value) if processor is not None else value)
    if compiled.positional:
        return tuple(values)
    escaped = compiled.escaped
    return {escaped.get(name, name): value for name, value in zip(compiled.names, values, strict=True)}
