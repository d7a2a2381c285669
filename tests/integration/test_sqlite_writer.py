"""SQLite's writers queue for the file's turn (`chainmail.store.sqlite_writer`): it is given back however the
write transaction ends, threads and processes each get it in turn, and a turn that never comes is SQLite's
own "database is locked". (SQLite only: PostgreSQL writers do not queue.)"""

from __future__ import annotations

import fcntl
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text

from chainmail.store.database import make_engine, writer
from chainmail.store.sqlite_writer import WriterTurn, writer_turn

metadata = MetaData()
counter = Table("turn_counter", metadata, Column("id", Integer, primary_key=True), Column("n", Integer))


def _engine(path: Path):
    engine = make_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    return engine


def _turn_is_free(path: Path) -> bool:
    """Whether another thread could take the turn now (its holder could always take it again)."""
    turn = writer_turn(path, 30.0)
    free: list[bool] = []

    def probe() -> None:
        free.append(turn._threads.acquire(blocking=False))
        if free[0]:
            turn._threads.release()

    prober = threading.Thread(target=probe)
    prober.start()
    prober.join()
    return free[0]


def test_the_turn_is_given_back_on_commit_on_rollback_and_on_a_failed_statement(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine = _engine(path)
    with writer(engine).begin() as conn:
        conn.execute(insert(counter).values(id=1, n=1))
        assert not _turn_is_free(path)
    assert _turn_is_free(path)
    with pytest.raises(RuntimeError), writer(engine).begin() as conn:
        conn.execute(insert(counter).values(id=2, n=2))
        raise RuntimeError("the command failed")
    assert _turn_is_free(path)
    with pytest.raises(Exception, match="UNIQUE"), writer(engine).begin() as conn:
        conn.execute(insert(counter).values(id=1, n=3))
    assert _turn_is_free(path)
    with engine.connect() as conn:  # readers never queue
        assert conn.execute(select(counter.c.id, counter.c.n)).all() == [(1, 1)]
        assert _turn_is_free(path)
    engine.dispose()


def test_threads_write_in_turn_and_lose_nothing(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "db.sqlite")
    with writer(engine).begin() as conn:
        conn.execute(insert(counter).values(id=1, n=0))

    def add(times: int) -> None:
        for _ in range(times):
            with writer(engine).begin() as conn:  # read, then write what was read plus one
                n = conn.execute(select(counter.c.n).where(counter.c.id == 1)).scalar_one()
                conn.execute(counter.update().where(counter.c.id == 1).values(n=n + 1))

    threads = [threading.Thread(target=add, args=(50,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        assert conn.execute(select(counter.c.n)).scalar_one() == 400
    engine.dispose()


def test_a_block_that_holds_the_turn_keeps_it_across_its_saves(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine = _engine(path)
    turn = writer_turn(path, 30.0)
    order: list[str] = []
    waiting = threading.Event()

    def other_writer() -> None:
        waiting.set()
        with writer(engine).begin() as conn:
            conn.execute(insert(counter).values(id=3, n=3))
        order.append("other")

    with turn.hold():
        with engine.connect() as conn:  # the block's read ...
            assert conn.execute(select(func.count()).select_from(counter)).scalar_one() == 0
        other = threading.Thread(target=other_writer)
        other.start()
        waiting.wait()
        for n in (1, 2):  # ... and its saves: taken again at once, and kept when they commit
            with writer(engine).begin() as conn:
                conn.execute(insert(counter).values(id=n, n=n))
            assert not _turn_is_free(path)
            order.append(f"save {n}")
        other.join(0.3)
        assert other.is_alive()  # the other writer waits for the block, not just for a save
    other.join(30)
    assert order == ["save 1", "save 2", "other"]
    assert _turn_is_free(path)
    engine.dispose()


def _add_in_process(path: str, times: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    for _ in range(times):
        with writer(engine).begin() as conn:
            n = conn.execute(select(func.max(counter.c.n))).scalar_one()
            conn.execute(insert(counter).values(n=n + 1))
    engine.dispose()


def test_processes_write_in_turn_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine = _engine(path)
    with writer(engine).begin() as conn:
        conn.execute(insert(counter).values(n=0))
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_add_in_process, args=(str(path), 40)) for _ in range(3)]
    for p in processes:
        p.start()
    _add_in_process(str(path), 40)
    for p in processes:
        p.join(60)
        assert p.exitcode == 0
    with engine.connect() as conn:  # every increment saw the one before it: 160 rows, n from 0 to 160
        assert sorted(conn.execute(select(counter.c.n)).scalars()) == list(range(161))
    engine.dispose()


def test_a_turn_that_does_not_come_is_database_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine = _engine(path)
    held = WriterTurn(path.resolve(), 0.2)  # as another process: a descriptor of the lock file of its own
    holder = held._file()
    assert holder is not None
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        waiting = WriterTurn(path.resolve(), 0.2)
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            waiting.acquire()
        assert waiting._threads.acquire(blocking=False)  # what it took for the wait, it gave back
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
    with writer(engine).begin() as conn:  # and the real turn comes once the holder lets go
        conn.execute(text("INSERT INTO turn_counter (n) VALUES (1)"))
    engine.dispose()
