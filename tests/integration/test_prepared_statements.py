"""Statements run straight on the driver's cursor (`Prepared`, the hot read-model writes and lookups) store and
read what SQLAlchemy's own execute stores and reads, and fail with the same errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from chainmail.store.database import make_engine, writer
from chainmail.store.prepared import Prepared, read_together

metadata = MetaData()
sample = Table(
    "prepared_sample",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("big", BigInteger, nullable=False),
    Column("flag", Boolean, nullable=False),
    Column("name", String(40), nullable=True),
    Column("data", JSON, nullable=True),
    Column("at", DateTime(timezone=True), nullable=True),
    Column("tag", String(10), nullable=False, default="py-side"),
)
COLUMNS = ["id", "big", "flag", "name", "data", "at"]


def _rows(start: int, n: int, *, id_offset: int = 0) -> list[dict]:
    moment = datetime(2026, 12, 5, 17, 0, 0, 123000, tzinfo=UTC)
    return [
        {
            "id": i + id_offset,
            "big": 2**62 + i,
            "flag": i % 2 == 0,
            "name": None if i % 3 == 0 else f"name {i} 'quoted' \\",
            "data": None if i % 4 == 0 else {"i": i, "nested": [1, "two", None, True]},
            "at": None if i % 5 == 0 else moment + timedelta(seconds=i),
        }
        for i in range(start, start + n)
    ]


@pytest.fixture
def engine(database_url: str):
    engine = create_engine(database_url)
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


def _read(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(sample).order_by(sample.c.id))]


def test_rows_written_by_a_prepared_insert_read_back_as_sqlalchemy_writes_them(engine) -> None:
    prepared = Prepared(insert(sample).values(tag="given"), COLUMNS)
    with engine.begin() as conn:
        prepared.run(conn, _rows(0, 1)[0])  # one row
        prepared.run(conn, _rows(1, 9))  # many
        prepared.run(conn, [])  # none: nothing to do
        conn.execute(insert(sample).values(tag="given"), _rows(0, 10, id_offset=100))  # SQLAlchemy's own
    got = _read(engine)
    mine, sqlalchemys = got[:10], [{**r, "id": r["id"] - 100} for r in got[10:]]
    assert mine == sqlalchemys
    assert [r["id"] for r in mine] == list(range(10))
    assert [r["data"] for r in mine] == [r["data"] for r in _rows(0, 10)]
    with engine.connect() as conn:  # JSON null as SQLAlchemy writes None, in both paths alike
        nulls = conn.execute(select(sample.c.id).where(sample.c.data.is_(None))).scalars().all()
    assert nulls == []
    assert {r["tag"] for r in got} == {"given"}


def test_a_prepared_update_adds_to_the_stored_value_with_its_own_literals(engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(sample), _rows(0, 3))
    add = Prepared(
        update(sample)
        .where(sample.c.id == bindparam("key"))
        .values(big=sample.c.big + bindparam("delta") + 1, flag=True, name=bindparam("v_name"))
    )
    with engine.begin() as conn:
        add.run(conn, {"key": 1, "delta": 10, "v_name": "renamed"})
        add.run(conn, [{"key": 2, "delta": -5, "v_name": None}, {"key": 0, "delta": 0, "v_name": "zero"}])
    got = {r["id"]: r for r in _read(engine)}
    assert (got[0]["big"], got[0]["flag"], got[0]["name"]) == (2**62 + 1, True, "zero")
    assert (got[1]["big"], got[1]["flag"], got[1]["name"]) == (2**62 + 1 + 11, True, "renamed")
    assert (got[2]["big"], got[2]["flag"], got[2]["name"]) == (2**62 + 2 - 4, True, None)


def test_a_statement_with_a_python_side_default_still_gets_it(engine) -> None:
    # the `tag` column's default is computed in Python: the statement runs through SQLAlchemy's execute
    with engine.begin() as conn:
        Prepared(insert(sample), COLUMNS).run(conn, _rows(0, 2))
    assert [r["tag"] for r in _read(engine)] == ["py-side", "py-side"]


def test_a_duplicate_key_is_sqlalchemys_integrity_error_and_writes_nothing(engine) -> None:
    prepared = Prepared(insert(sample).values(tag="given"), COLUMNS)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        prepared.run(conn, _rows(0, 2))
        prepared.run(conn, _rows(1, 1)[0])
    assert _read(engine) == []


def test_rows_read_by_a_prepared_select_equal_sqlalchemys_result(database_url: str) -> None:
    # chainmail's own engine (its JSON loader, autocommit reads on PostgreSQL), as the API reads
    engine = make_engine(database_url)
    metadata.create_all(engine)
    try:
        with writer(engine).begin() as conn:
            conn.execute(insert(sample).values(tag="given"), _rows(0, 10))
        by_name = select(sample, (sample.c.big + 1).label("next")).where(sample.c.name == bindparam("name"))
        in_range = select(sample).where(sample.c.id >= bindparam("low")).order_by(sample.c.id.desc()).limit(4)
        with engine.connect() as conn:
            for statement, params in ((by_name, {"name": "name 1 'quoted' \\"}), (in_range, {"low": 3})):
                expected = [dict(r._mapping) for r in conn.execute(statement, params)]
                assert expected
                prepared = Prepared(statement)
                assert prepared.rows(conn, params) == expected
                assert prepared.rows(conn, params) == expected  # again, with what the first read kept
                assert prepared.first(conn, params) == expected[0]
            assert Prepared(by_name).first(conn, {"name": "nobody"}) is None
            expanding = (
                select(sample.c.id).where(sample.c.id.in_(bindparam("ids", expanding=True))).order_by(sample.c.id)
            )
            assert Prepared(expanding).rows(conn, {"ids": [2, 4, 99]}) == [{"id": 2}, {"id": 4}]
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def test_selects_read_together_give_each_its_own_rows_and_fail_as_sqlalchemy_does(database_url: str) -> None:
    """`read_together` (one round trip on PostgreSQL, in psycopg's pipeline mode) reads what each select
    reads alone; an error is SQLAlchemy's, and the connection reads on afterwards, out of pipeline mode."""
    engine = make_engine(database_url)
    metadata.create_all(engine)
    try:
        with writer(engine).begin() as conn:
            conn.execute(insert(sample).values(tag="given"), _rows(0, 10))
        by_id = Prepared(select(sample).where(sample.c.id == bindparam("id")))
        flagged = Prepared(select(sample.c.id).where(sample.c.flag == bindparam("flag")).order_by(sample.c.id))
        missing = Prepared(select(sample).where(sample.c.name == bindparam("name")))
        reads = [(by_id, {"id": 3}), (flagged, {"flag": True}), (missing, {"name": "nobody"}), (by_id, {"id": 4})]
        with engine.connect() as conn:
            alone = [prepared.rows(conn, params) for prepared, params in reads]
            assert read_together(conn, reads) == alone
            assert alone[0][0]["id"] == 3 and alone[2] == [] and [r["id"] for r in alone[1]] == [0, 2, 4, 6, 8]
            gone = Table("prepared_gone", MetaData(), Column("id", Integer, primary_key=True))
            with pytest.raises(ProgrammingError if engine.dialect.name == "postgresql" else OperationalError):
                read_together(conn, [reads[0], (Prepared(select(gone).where(gone.c.id == bindparam("id"))), {"id": 1})])
            assert read_together(conn, reads[:2]) == alone[:2]
            assert by_id.first(conn, {"id": 5})["id"] == 5
    finally:
        metadata.drop_all(engine)
        engine.dispose()
