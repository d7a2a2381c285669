"""The write path without a table lock: appends run side by side, inline read models commit with their
events, and an asynchronous reader never passes an append that is still running nor waits for one that
rolled back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import falcon.testing
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from sqlalchemy import Column, Connection, MetaData, String, Table, create_engine, func, select, text
from sqlalchemy.engine import make_url

from chainmail.config import Settings
from chainmail.domain.mail.application import Mail, NewUser
from chainmail.domain.mail.users import User
from chainmail.http.app import create_app
from chainmail.projections.projection import Projection, handles
from chainmail.projections.runner import ProjectionRunner
from chainmail.projections.users import users
from chainmail.store.database import writer
from chainmail.store.events import settled_horizon
from chainmail.system import System
from tests.integration.conftest import in_threads

seen_table = Table("test_seen_users", MetaData(), Column("username", String(100), primary_key=True))


class SeenUsers(Projection):
    """An asynchronous read model of the test's own: the users created, as a catch-up sees them."""

    name = "test_seen_users"
    follows = (Mail,)
    tables = (seen_table,)
    inline = False

    @handles(User.Created)
    def created(self, tx: Connection, e: Any) -> None:
        tx.execute(seen_table.insert().values(username=e.username))


@pytest.fixture
def system(database_url: str) -> Iterator[System]:
    system = System(Settings(database_url=database_url, email_domain="example.com"))
    seen_table.create(system.engine)
    yield system
    system.close()


def seen(system: System) -> list[str]:
    with system.engine.connect() as conn:
        return sorted(conn.execute(select(seen_table.c.username)).scalars())


def held_save(system: System, monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """The next save stops inside its transaction, after its events are appended, until `release` is set."""
    inside, release = threading.Event(), threading.Event()
    original = system.projections._fold
    first = [True]

    def fold(conn: Connection, events: Any, projections: Any, writes: Any = None) -> None:
        if first[0]:
            first[0] = False
            if writes is not None:  # PostgreSQL: what the save sent so far (its append) is run now, not later
                writes.sync()
            inside.set()
            assert release.wait(30)
        original(conn, events, projections, writes)

    monkeypatch.setattr(system.projections, "_fold", fold)
    return inside, release


def test_a_reader_never_passes_an_append_that_is_still_running(
    system: System, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = ProjectionRunner(system.engine, system.apps, [SeenUsers])
    projection = runner.projections["test_seen_users"]
    inside, release = held_save(system, monkeypatch)
    early = threading.Thread(target=system.mail.create_user, args=(NewUser(username="early", password=""),))
    early.start()
    assert inside.wait(30)
    # a later append commits while the early one holds a lower notification id (on SQLite it waits its turn)
    late = threading.Thread(target=system.mail.create_user, args=(NewUser(username="late", password=""),))
    late.start()
    late.join(timeout=3)
    if database_url.startswith("postgresql"):
        assert not late.is_alive()  # appends of different aggregates never wait for each other

    # (on SQLite the catch-up waits for the file's one writer: it cannot see either before both commit)
    reader = threading.Thread(target=runner.catch_up, args=(projection, system.mail))
    reader.start()
    reader.join(timeout=3)
    assert seen(system) == []  # not "late" alone: that would skip "early" for good

    release.set()
    for thread in (early, late, reader):
        thread.join(30)
    runner.catch_up(projection, system.mail, settle=10)
    assert seen(system) == ["early", "late"]
    assert runner.catch_up(projection, system.mail) == 0  # exactly once


class PowerCut(BaseException):
    """The process stops in the middle of a write (nothing after it in the write runs)."""


def test_a_reader_does_not_wait_for_an_append_that_rolled_back(system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = ProjectionRunner(system.engine, system.apps, [SeenUsers])
    original = system.projections._fold

    def failing(conn: Connection, events: Any, projections: Any, writes: Any = None) -> None:
        original(conn, events, projections, writes)
        raise PowerCut

    monkeypatch.setattr(system.projections, "_fold", failing)
    with pytest.raises(PowerCut):
        system.mail.create_user(NewUser(username="lost", password=""))
    monkeypatch.setattr(system.projections, "_fold", original)
    system.mail.create_user(NewUser(username="kept", password=""))

    assert runner.catch_up(runner.projections["test_seen_users"], system.mail) > 0
    assert seen(system) == ["kept"]
    with system.engine.connect() as conn:  # nothing of the failed write reached the inline read models
        assert conn.execute(select(users.c.username)).scalars().all() == ["kept"]


def test_inline_read_models_commit_with_their_events_or_not_at_all(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    system.mail.create_user(NewUser(username="first", password=""))
    before = system.mail.recorder.max_notification_id()
    original = system.projections._fold

    def cut(conn: Connection, events: Any, projections: Any, writes: Any = None) -> None:
        original(conn, events, projections, writes)  # folded, then the write stops before it commits
        raise PowerCut

    monkeypatch.setattr(system.projections, "_fold", cut)
    with pytest.raises(PowerCut):
        system.mail.create_user(NewUser(username="second", password=""))
    assert system.mail.recorder.max_notification_id() == before  # the events went with the fold
    with system.engine.connect() as conn:
        assert conn.execute(select(users.c.username)).scalars().all() == ["first"]


def test_many_threads_appending_to_many_users_all_land_exactly_once(system: System) -> None:
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            system.mail.create_user(NewUser(username=f"user{i}", password=""))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with system.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 24
    live = _rows(system, "users")
    system.projections.replay("users")
    assert _rows(system, "users") == live


def test_a_concurrent_save_of_the_same_aggregate_is_a_version_conflict(system: System) -> None:
    user_id = system.mail.create_user(NewUser(username="racer", password=""))
    one = system.mail.repository.get(User.create_id(str(user_id)))
    two = system.mail.repository.get(one.id)
    now = system.mail.clock()
    one.update({"name": "one"}, one.auth_version, now)
    two.update({"name": "two"}, two.auth_version, now)
    system.mail.save(one)
    with pytest.raises(IntegrityError):
        system.mail.save(two)
    with system.engine.connect() as conn:
        assert conn.execute(select(users.c.name).where(users.c.username == "racer")).scalar_one() == "one"


def _rows(system: System, table: str) -> list[dict[str, Any]]:
    t = Table(table, MetaData(), autoload_with=system.engine)
    with writer(system.engine).connect() as conn:
        key = list(t.primary_key.columns)
        return [dict(r._mapping) for r in conn.execute(select(t).order_by(*key))]


def test_transactions_of_other_databases_hold_no_reader_back(system: System, database_url: str) -> None:
    """Other databases on the server run transactions of their own, long ones and ones that end while the
    reader works out how far it may read: neither keeps it from what this database committed."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite: one file, one writer at a time, no horizon")
    runner = ProjectionRunner(system.engine, system.apps, [SeenUsers])
    projection = runner.projections["test_seen_users"]
    other = create_engine(make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with other.connect() as long_one, other.connect() as short_one:
        long_one.exec_driver_sql("BEGIN")
        long_one.exec_driver_sql("SELECT pg_current_xact_id()")  # an id, held until the end: a running writer
        short_one.exec_driver_sql("BEGIN")
        short_one.exec_driver_sql("SELECT pg_current_xact_id()")
        system.mail.create_user(NewUser(username="after-both", password=""))

        with system.engine.connect() as conn:
            calls = [0]
            execute = conn.execute

            def short_one_ends_after_the_snapshot(statement: Any, *args: Any, **kwargs: Any) -> Any:
                found = execute(statement, *args, **kwargs)
                calls[0] += 1
                if calls[0] == 1:
                    short_one.exec_driver_sql("COMMIT")
                return found

            conn.execute = short_one_ends_after_the_snapshot  # type: ignore[method-assign]
            horizon = settled_horizon(conn)
            conn.execute = execute  # type: ignore[method-assign]
            newest = conn.execute(text('SELECT max(tx) FROM "mail_events"')).scalar_one()
        assert horizon > newest
        assert runner.catch_up(projection, system.mail) > 0
        assert seen(system) == ["after-both"]
        long_one.exec_driver_sql("ROLLBACK")
    other.dispose()


def _backends(database_url: str, settled: int | None = None) -> int:
    """The server's connections to this test's database (PostgreSQL), whoever holds them; with `settled`, once
    they number that or after 5 s (a backend whose client has closed leaves the server's list a little later)."""
    name = make_url(database_url).database
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
    with psycopg.connect(make_url(database_url).set(database="postgres").render_as_string(False)) as admin:
        deadline = time.monotonic() + 5
        while True:
            count: int = admin.execute(query, (name,)).fetchone()[0]  # type: ignore[index]
            if settled is None or count == settled or time.monotonic() > deadline:
                return count
            time.sleep(0.05)


def test_a_process_holds_no_connection_beyond_its_engines_pool(database_url: str) -> None:
    """Every bounded context's recorder borrows the process's engine connections: a process opens none until
    its threads ask, then no more than they use at once, so that several nodes of several workers fit a stock
    server's `max_connections`. (eventsourcing's own pools opened 11 per process at once, and up to 27.)"""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite: a file, no server connections to count")
    assert _backends(database_url, settled=0) == 0
    system = System(Settings(database_url=database_url, email_domain="example.com", api_access_token="root"))
    try:
        assert _backends(database_url) <= 1  # building the contexts took one, and keeps it
        client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": "root"})
        errors: list[str] = []

        def work(n: int) -> None:  # writes of every context and reads of aggregates outside a write's turn
            user = client.simulate_post("/api/users", json={"username": f"pool{n}", "password": "secretvalue"})
            if user.status_code != 200:
                errors.append(user.text)
                return
            boxes = client.simulate_get(f"/api/users/{user.json['id']}/mailboxes").json["results"]
            inbox = next(box["id"] for box in boxes if box["path"] == "INBOX")
            for i in range(3):
                message = {"subject": f"m{i}", "text": "hello"}
                sent = client.simulate_post(f"/api/users/{user.json['id']}/mailboxes/{inbox}/messages", json=message)
                flagged = client.simulate_put(
                    f"/api/users/{user.json['id']}/mailboxes/{inbox}/messages/{sent.json['message']['id']}",
                    json={"seen": True},
                )
                points = client.simulate_post(f"/idx/wallets/0x{n:040x}/points/add", json={"action": "send"})
                errors.extend(a.text for a in (sent, flagged, points) if a.status_code != 200)

        in_threads(work, 8)

        assert errors == []
        pool = system.engine.pool
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        kept = pool.checkedin()  # type: ignore[attr-defined]
        assert _backends(database_url, settled=kept) == kept <= 8
    finally:
        system.close()
    assert _backends(database_url, settled=0) == 0
