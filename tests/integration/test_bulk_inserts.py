"""Read-model rows inserted many at a time (COPY on PostgreSQL) come back exactly as an insert would store them,
and break the same constraints with the same errors."""

from __future__ import annotations

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError

from chainmail.projections.bulk import COPY_FROM_ROWS, insert_rows

metadata = MetaData()
sample = Table(
    "bulk_sample",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("big", BigInteger, nullable=False),
    Column("flag", Boolean, nullable=False),
    Column("name", String(40), nullable=True),
    Column("text", Text, nullable=True),
    Column("data", JSON, nullable=True),
)


def _rows(n: int) -> list[dict]:
    return [
        {
            "id": i,
            "big": 2**62 + i,
            "flag": i % 2 == 0,
            "name": None if i % 3 == 0 else f"name\t{i}\\",
            "text": 'line\nbreak, ünïcode "quoted" and \\N',
            "data": {"i": i, "nested": [1, "two", None, True], "s": "tab\there"},
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("count", [3, COPY_FROM_ROWS * 4])
def test_rows_inserted_in_bulk_read_back_as_inserted(database_url: str, count: int) -> None:
    engine = create_engine(database_url)
    try:
        metadata.create_all(engine)
        rows = _rows(count)
        with engine.begin() as conn:
            insert_rows(conn, sample, rows)
        with engine.connect() as conn:
            got = [dict(r._mapping) for r in conn.execute(select(sample).order_by(sample.c.id))]
        assert got == rows
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def test_a_duplicate_key_in_a_bulk_insert_is_an_integrity_error_and_writes_nothing(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        metadata.create_all(engine)
        rows = _rows(COPY_FROM_ROWS * 2)
        rows[-1] = {**rows[-1], "id": 0}
        with pytest.raises(IntegrityError), engine.begin() as conn:
            insert_rows(conn, sample, rows)
        with engine.connect() as conn:
            assert conn.execute(select(sample)).first() is None
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def test_none_in_a_json_column_is_stored_as_an_insert_stores_it(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        metadata.create_all(engine)
        rows = [{**row, "data": None if row["id"] % 7 == 0 else row["data"]} for row in _rows(COPY_FROM_ROWS * 2)]
        with engine.begin() as conn:
            insert_rows(conn, sample, rows)
        with engine.connect() as conn:
            got = [dict(r._mapping) for r in conn.execute(select(sample).order_by(sample.c.id))]
            sql_nulls = conn.execute(select(func.count()).where(sample.c.data.is_(None))).scalar_one()
        assert got == rows
        assert sql_nulls == 0  # JSON null, as SQLAlchemy's insert writes None
    finally:
        metadata.drop_all(engine)
        engine.dispose()
