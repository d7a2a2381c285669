"""Keyset pagination over read-model queries, with mongo-cursor-pagination's next/previous semantics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Select, and_, or_


@dataclass(frozen=True)
class Boundary:
    """The sort key of the item a cursor points at: the id, and the sort value when not sorting by id."""

    id: str
    value: Any = None


@dataclass(frozen=True)
class Page:
    rows: Sequence[Any]  # SQLAlchemy rows, or dicts where the page was read with a `Prepared` statement
    has_next: bool
    has_previous: bool
    first: Boundary | None
    last: Boundary | None


def keyset_page(
    conn: Connection,
    query: Select[Any],
    id_column: Column[Any],
    *,
    limit: int,
    sort_column: Column[Any] | None = None,
    ascending: bool = True,
    after: Boundary | None = None,
    before: Boundary | None = None,
) -> Page:
    """One page of `query` after `after` (a next cursor) or before `before` (a previous cursor)."""
    backwards = before is not None and after is None
    boundary = after if not backwards else before
    forward_order = ascending != backwards  # walk in ascending key order?
    if boundary is not None:
        query = query.where(_beyond(id_column, sort_column, boundary, greater=forward_order))
    keys = [sort_column, id_column] if sort_column is not None else [id_column]
    query = query.order_by(*[k.asc() if forward_order else k.desc() for k in keys]).limit(limit + 1)
    rows = list(conn.execute(query).all())
    sort_key = sort_column.name if sort_column is not None else None
    return page_of(rows, limit, backwards, after, id_column.name, sort_key, lambda row: row._mapping)


def page_of(
    rows: list[Any],
    limit: int,
    backwards: bool,
    after: Boundary | None,
    id_key: str,
    sort_key: str | None,
    mapping: Callable[[Any], Mapping[str, Any]] = lambda row: row,
) -> Page:
    """The page of `rows`, read (`limit` + 1 of them at most) in the walk's order, as `keyset_page` reads them."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    has_previous = has_more if backwards else after is not None
    has_next = True if backwards else has_more

    def key(row: Any) -> Boundary:
        values = mapping(row)
        return Boundary(str(values[id_key]), values[sort_key] if sort_key is not None else None)

    return Page(
        rows,
        has_next,
        has_previous,
        key(rows[0]) if rows else None,
        key(rows[-1]) if rows else None,
    )


def _beyond(
    id_column: Column[Any], sort_column: Column[Any] | None, at: Boundary, *, greater: bool
) -> ColumnElement[bool]:
    def past(column: Column[Any], value: Any) -> ColumnElement[bool]:
        return column > value if greater else column < value

    if sort_column is None:
        return past(id_column, at.id)
    return or_(past(sort_column, at.value), and_(sort_column == at.value, past(id_column, at.id)))
