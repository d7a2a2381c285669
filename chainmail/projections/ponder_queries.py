"""Ponder's query semantics over any read model, compiled to SQLAlchemy Core with bound parameters.

An `Entity` names a read model's columns as GraphQL fields. `plural()` answers Ponder's plural field
(`where` filters, `orderBy`/`orderDirection`, `limit`/`offset`, opaque `before`/`after` cursors, `totalCount`)
and `singular()` a lookup by `id`. Every bad argument raises `QueryError`; nothing from the input becomes SQL text.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Result,
    Select,
    Table,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    tuple_,
)

TOTAL = "__total"  # the column that carries totalCount beside a page's rows (no field's name begins with __)
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000
MAX_LIST = 1000  # values in one `_in` / `_not_in`
MAX_NESTING = 16  # AND / OR inside each other
INT64 = (-(2**63), 2**63 - 1)

Kind = Literal["string", "int", "bigint", "boolean", "json"]
Direction = Literal["asc", "desc"]

STRING_SUFFIXES = (
    "_contains",
    "_not_contains",
    "_starts_with",
    "_ends_with",
    "_not_starts_with",
    "_not_ends_with",
    "_contains_nocase",
    "_not_contains_nocase",
    "_starts_with_nocase",
    "_ends_with_nocase",
    "_not_starts_with_nocase",
    "_not_ends_with_nocase",
)
NUMERIC_SUFFIXES = ("_gt", "_lt", "_gte", "_lte")
UNIVERSAL_SUFFIXES = ("", "_not")
LIST_SUFFIXES = ("_in", "_not_in")
# Longest first, so `_not_in` is never read as `_in`.
ALL_SUFFIXES = sorted((*STRING_SUFFIXES, *NUMERIC_SUFFIXES, *UNIVERSAL_SUFFIXES, *LIST_SUFFIXES), key=len, reverse=True)


class QueryError(Exception):
    """An argument the query cannot be answered with; the message is for the client."""


@dataclass(frozen=True)
class Field:
    """One GraphQL field of an entity and the SQL expression it reads."""

    name: str
    column: ColumnElement[Any]
    kind: Kind
    nullable: bool = False
    lower: bool = False  # holds EVM addresses or hashes: hex in filter values is lower-cased (base58 is not)
    sort_by: tuple[str, ...] = ()  # ordering by this field orders by these fields instead (a composite id)

    def suffixes(self) -> tuple[str, ...]:
        if self.kind == "json":
            return ()
        extra = STRING_SUFFIXES if self.kind == "string" else NUMERIC_SUFFIXES if self.kind != "boolean" else ()
        return (*UNIVERSAL_SUFFIXES, *LIST_SUFFIXES, *extra)


@dataclass(frozen=True)
class Entity:
    """A read model seen as one Ponder table: `name` (singular), its fields and the fields that key a row."""

    name: str
    source: FromClause
    fields: Sequence[Field]
    key: tuple[str, ...]
    description: str = ""
    base: tuple[ColumnElement[bool], ...] = ()  # rows of `source` that belong to this entity
    # id -> the condition that finds it (a composite id is split into its key columns); None: no such id
    lookup: Callable[[str], ColumnElement[bool] | None] | None = None
    # totalCount without counting rows, where the read model keeps counts: given a filter made only of
    # equalities ({field name: value as stored}), a query of the exact count, or None where it cannot tell
    counted: Callable[[dict[str, Any]], Select[Any] | None] | None = None
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def type_name(self) -> str:
        return self.name[0].upper() + self.name[1:]  # Ponder's types take the schema's export name: `Mail`

    @property
    def plural(self) -> str:
        return self.name + "s"  # Ponder appends an `s`, always

    def select(self, fields: Sequence[Field] | None = None) -> Select[Any]:
        columns = [f.column.label(f.name) for f in (self.fields if fields is None else fields)]
        return select(*columns).select_from(self.source).where(*self.base)

    def find(self, id_value: str) -> ColumnElement[bool]:
        if self.lookup is not None:
            found = self.lookup(id_value)
            return found if found is not None else false()
        return self.by_name["id"].column == id_value


@dataclass(frozen=True)
class PageResult:
    items: list[dict[str, Any]]
    start_cursor: str | None
    end_cursor: str | None
    has_previous: bool
    has_next: bool
    total_count: int | None


def singular(conn: Connection, entity: Entity, id_value: str) -> dict[str, Any] | None:
    _check_text(id_value, "id")
    row = conn.execute(entity.select().where(entity.find(id_value)).limit(1)).first()
    return dict(row._mapping) if row is not None else None


def plural(
    conn: Connection,
    entity: Entity,
    *,
    where: Mapping[str, Any] | None = None,
    order_by: str | None = None,
    order_direction: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    before: str | None = None,
    after: str | None = None,
    total_count: bool = False,
    fields: Collection[str] | None = None,
) -> PageResult:
    """One page; `fields` names the fields the answer needs (None: all), so the rest is never read."""
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = offset or 0
    if limit < 0 or limit > MAX_LIMIT:
        raise QueryError(f"Invalid limit. Got {limit}, expected <={MAX_LIMIT}.")
    if offset < 0 or offset > MAX_OFFSET:
        raise QueryError(f"Invalid offset. Got {offset}, expected 0 to {MAX_OFFSET}.")
    if after is not None and before is not None:
        raise QueryError("Cannot specify both before and after cursors.")
    if (after is not None or before is not None) and offset > 0:
        raise QueryError(f"Cannot specify both {'after' if after is not None else 'before'} cursor and offset.")
    schema = _order_schema(entity, order_by, order_direction)
    ordered = {f.name for f, _ in schema}  # the cursors read these
    wanted = [f for f in entity.fields if fields is None or f.name in fields or f.name in ordered]
    conditions = _conditions(entity, where or {}, conn.dialect.name, 0)

    count = None
    if total_count:
        count = _kept_count(entity, where or {})
        if count is None:
            count = select(func.count()).select_from(entity.source).where(*entity.base, *conditions)
    # the total travels in a column of the page's own statement (one round trip), asked alone if no row came
    counted = [count.correlate(None).scalar_subquery().label(TOTAL)] if count is not None else []

    def fetch(extra: list[ColumnElement[bool]], reverse: bool, n: int) -> list[dict[str, Any]]:
        order = []
        for f, direction in schema:
            ascending = (direction == "asc") != reverse
            term = f.column.asc() if ascending else f.column.desc()
            if f.nullable:  # the same place for nulls on both stores: first ascending, as a smallest value
                term = term.nulls_first() if ascending else term.nulls_last()
            order.append(term)
        if not isinstance(entity.source, Table) or schema[0][0].name in entity.key:
            query = entity.select(wanted).add_columns(*counted)
            query = query.where(*conditions, *extra).order_by(*order).limit(_written(n)).offset(_written(offset))
            return _dicts(conn.execute(query))
        # Ordered by another column than the key: sort and cut the keys alone, then read the page's rows by
        # key, so a sort over every matching row (where no index serves the order) moves a few integers per
        # row, not whole mails.
        keys = [c for c in entity.source.primary_key.columns]
        page = (
            select(*keys)
            .select_from(entity.source)
            .where(*entity.base, *conditions, *extra)
            .order_by(*order)
            .limit(_written(n))
            .offset(_written(offset))
            .subquery("page")
        )
        joined = entity.source.join(page, and_(*[c == page.c[c.name] for c in keys]))
        query = select(*[f.column.label(f.name) for f in wanted], *counted).select_from(joined).order_by(*order)
        return _dicts(conn.execute(query))

    def total_of(rows: list[dict[str, Any]]) -> int | None:
        """The total the page's statement read (taken out of its rows), or asked alone when no row came."""
        if count is None:
            return None
        if not rows:
            return int(conn.execute(count).scalar_one())
        for row in rows[1:]:
            del row[TOTAL]
        return int(rows[0].pop(TOTAL))

    has_previous = has_next = False
    if after is None and before is None:
        rows = fetch([], False, limit + 1)
        total = total_of(rows)
        if len(rows) > limit:
            rows.pop()
            has_next = True
        if offset > 0:
            return PageResult(rows, None, None, True, has_next, total)
        return _page(schema, rows, False, has_next, total)

    # As Ponder: the cursor's own row is included when it still exists, and tells there is a page beyond it.
    cursor = before if before is not None else after
    assert cursor is not None
    at = _decode_cursor(schema, cursor)
    if after is not None:
        rows = fetch([_cursor_condition(schema, at, "after")], False, limit + 2)
        total = total_of(rows)
        if not rows:
            return PageResult([], None, None, False, False, total)
        if _key(schema, rows[0]) == at:
            rows.pop(0)
            has_previous = True
        else:
            rows.pop()
        if len(rows) == limit + 1:
            rows.pop()
            has_next = True
    else:
        rows = fetch([_cursor_condition(schema, at, "before")], True, limit + 2)
        total = total_of(rows)
        rows.reverse()
        if not rows:
            return PageResult([], None, None, False, False, total)
        if _key(schema, rows[-1]) == at:
            rows.pop()
            has_next = True
        else:
            rows.pop(0)
        if len(rows) == limit + 1:
            rows.pop(0)
            has_previous = True
    return _page(schema, rows, has_previous, has_next, total)


def _kept_count(entity: Entity, where: Mapping[str, Any]) -> Select[Any] | None:
    """The entity's own count for a filter of plain equalities on plain fields (None: count the rows)."""
    if entity.counted is None:
        return None
    equal = {}
    for key, value in where.items():
        f = entity.by_name.get(key)
        if f is None or value is None or f.sort_by or f.kind == "json":
            return None  # an operator, AND/OR, a null test or a composite id
        equal[key] = _value(f, value, key)
    return entity.counted(equal)


def _written(number: int) -> ColumnElement[int]:
    """A limit or offset written into the statement's text, not bound: PostgreSQL plans a prepared statement
    once (a generic plan) only if that plan costs about what a plan for the given values does, and with the
    limit unknown it never does, so each execution would be planned again."""
    return literal(number, Integer, literal_execute=True)


def _dicts(result: Result[Any]) -> list[dict[str, Any]]:
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


# -- ordering and cursors ---------------------------------------------------------------------

OrderSchema = list[tuple[Field, Direction]]


def _order_schema(entity: Entity, order_by: str | None, order_direction: str | None) -> OrderSchema:
    """The user's column first, then the key fields not already in it, all in the user's direction."""
    direction = (order_direction or "asc").lower()
    if direction not in ("asc", "desc"):
        raise QueryError(f'Invalid orderDirection "{order_direction}", expected "asc" or "desc".')
    names: list[str] = []
    if order_by is not None:
        f = entity.by_name.get(order_by)
        if f is None:
            raise QueryError(f'Unknown column "{order_by}" used in orderBy argument')
        if f.kind == "json":
            raise QueryError(f'Column "{order_by}" cannot be used in orderBy argument')
        names.extend(f.sort_by or (f.name,))
    names.extend(k for k in entity.key if k not in names)
    return [(entity.by_name[n], direction) for n in names]  # type: ignore[misc]


def _key(schema: OrderSchema, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[f.name] for f, _ in schema)


def _encode_cursor(schema: OrderSchema, row: Mapping[str, Any]) -> str:
    fragment = {f.name: row[f.name] for f, _ in schema}
    return base64.b64encode(json.dumps(fragment, separators=(",", ":")).encode()).decode()


def _decode_cursor(schema: OrderSchema, cursor: str) -> tuple[Any, ...]:
    invalid = QueryError(
        "Invalid cursor: use a startCursor or endCursor of this query, with the same where and orderBy."
    )
    try:
        fragment = json.loads(base64.b64decode(cursor.encode("ascii"), validate=True))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        raise invalid from None
    if not isinstance(fragment, dict) or set(fragment) != {f.name for f, _ in schema}:
        raise invalid
    values = []
    for f, _ in schema:
        value = fragment[f.name]
        if not _fits(f, value):
            raise invalid
        values.append(value)
    return tuple(values)


def _fits(f: Field, value: Any) -> bool:
    if value is None:
        return f.nullable
    if f.kind in ("int", "bigint"):
        return isinstance(value, int) and not isinstance(value, bool) and INT64[0] <= value <= INT64[1]
    if f.kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str) and _clean_text(value)


def _cursor_condition(schema: OrderSchema, at: tuple[Any, ...], side: Literal["after", "before"]) -> Any:
    """Rows at or beyond the cursor in the walk's direction (nulls sort first ascending, as a smallest value)."""

    def beyond(f: Field, value: Any, greater: bool, or_equal: bool) -> ColumnElement[bool]:
        c = f.column
        if value is None:
            strict = c.is_not(None) if greater else false()
            return or_(strict, c.is_(None)) if or_equal else strict
        if greater:
            return c >= value if or_equal else c > value
        strict = c <= value if or_equal else c < value
        return or_(strict, c.is_(None)) if f.nullable else strict

    def same(f: Field, value: Any) -> ColumnElement[bool]:
        return f.column.is_(None) if value is None else f.column == value

    def build(i: int) -> ColumnElement[bool]:
        f, direction = schema[i]
        greater = (direction == "asc") == (side == "after")
        if i == len(schema) - 1:
            return beyond(f, at[i], greater, True)
        return or_(beyond(f, at[i], greater, False), and_(same(f, at[i]), build(i + 1)))

    if len(schema) > 1 and not any(f.nullable for f, _ in schema):
        # one row-value comparison: both stores walk the index range with it (the OR form scans)
        greater = (schema[0][1] == "asc") == (side == "after")
        columns, values = tuple_(*[f.column for f, _ in schema]), tuple_(*[literal(v) for v in at])
        return columns >= values if greater else columns <= values
    return build(0)


def _page(
    schema: OrderSchema, rows: list[dict[str, Any]], has_previous: bool, has_next: bool, total: int | None
) -> PageResult:
    start = _encode_cursor(schema, rows[0]) if rows else None
    end = _encode_cursor(schema, rows[-1]) if rows else None
    return PageResult(rows, start, end, has_previous, has_next, total)


# -- filters ----------------------------------------------------------------------------------


def _conditions(entity: Entity, where: Mapping[str, Any], dialect: str, depth: int) -> list[ColumnElement[bool]]:
    if depth > MAX_NESTING:
        raise QueryError(f"Invalid query: AND and OR are nested more than {MAX_NESTING} deep.")
    out: list[ColumnElement[bool]] = []
    for key, value in where.items():
        if key in ("AND", "OR"):
            if value is None:
                continue
            if not isinstance(value, list):
                raise QueryError(f"Invalid query: Expected an array for the {key} operator.")
            nested = [and_(true(), *_conditions(entity, sub or {}, dialect, depth + 1)) for sub in value]
            if nested:
                out.append(and_(*nested) if key == "AND" else or_(*nested))
            continue
        suffix = next(s for s in ALL_SUFFIXES if key.endswith(s))
        f = entity.by_name.get(key[: len(key) - len(suffix)] if suffix else key)
        if f is None or suffix not in f.suffixes():
            raise QueryError(f"Invalid query: Where clause contains unknown column {key}")
        out.append(_condition(entity, f, suffix, value, dialect))
    return out


def _condition(entity: Entity, f: Field, suffix: str, value: Any, dialect: str) -> ColumnElement[bool]:
    c = f.column
    label = f.name + suffix
    if suffix in LIST_SUFFIXES:
        if value is None:
            raise QueryError(f"Invalid query: {label} needs a list, got null.")
        if len(value) > MAX_LIST:
            raise QueryError(f"Invalid query: {label} takes at most {MAX_LIST} values.")
        values = [_value(f, v, label) for v in value if v is not None]
        has_null = any(v is None for v in value)
        # a composite id is looked up by its key columns
        found = or_(false(), *[entity.find(v) for v in values]) if f.sort_by else c.in_(values)
        if has_null:
            found = or_(found, c.is_(None))
        return found if suffix == "_in" else not_(found)
    if suffix in UNIVERSAL_SUFFIXES:
        if value is None:
            return c.is_(None) if suffix == "" else c.is_not(None)
        v = _value(f, value, label)
        found = entity.find(v) if f.sort_by else c == v
        return found if suffix == "" else not_(found)
    if value is None:
        raise QueryError(f"Invalid query: {label} cannot be null.")
    v = _value(f, value, label)
    if suffix in NUMERIC_SUFFIXES:
        return {"_gt": c > v, "_lt": c < v, "_gte": c >= v, "_lte": c <= v}[suffix]
    return _text_condition(c, suffix, v, dialect)


def _text_condition(c: ColumnElement[Any], suffix: str, v: str, dialect: str) -> ColumnElement[bool]:
    """Substring tests with no LIKE patterns: the same case-sensitive answer on SQLite and PostgreSQL."""
    negate = suffix.startswith("_not_")
    operation = suffix.removeprefix("_not").removeprefix("_").removesuffix("_nocase")
    if suffix.endswith("_nocase"):
        c, v = func.lower(c), v.lower()
    n = len(v)
    if n == 0:
        test: ColumnElement[bool] = c.is_not(None)
    elif operation == "contains":
        test = (func.instr(c, v) if dialect == "sqlite" else func.strpos(c, v)) > 0
    elif operation == "starts_with":
        test = func.substr(c, 1, n) == v
    else:  # ends_with
        test = (func.substr(c, -n) if dialect == "sqlite" else func.right(c, n)) == v
    return and_(c.is_not(None), not_(test)) if negate else test


def _value(f: Field, value: Any, label: str) -> Any:
    if f.kind in ("int", "bigint"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise QueryError(f"Invalid query: {label} needs an integer.")
        if not INT64[0] <= value <= INT64[1]:
            raise QueryError(f"Invalid query: {label} is out of range.")
        return value
    if f.kind == "boolean":
        if not isinstance(value, bool):
            raise QueryError(f"Invalid query: {label} needs a boolean.")
        return value
    if not isinstance(value, str):
        raise QueryError(f"Invalid query: {label} needs a string.")
    _check_text(value, label)
    return hex_lowered(value) if f.lower else value


HEX = re.compile(r"0[xX][0-9a-fA-F]+")


def hex_lowered(text: str) -> str:
    """EVM addresses and hashes in `text` lower-cased, as the read models keep them; Solana's base58 keeps
    its case (its alphabet has no `0`, so it never looks like hex)."""
    return HEX.sub(lambda m: m.group(0).lower(), text)


def _clean_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(value: str, label: str) -> None:
    """Strings the databases cannot store (NUL, lone surrogates) are refused, not sent."""
    if not _clean_text(value):
        raise QueryError(f"Invalid query: {label} holds characters that cannot be stored.")
