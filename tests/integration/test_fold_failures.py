"""An inline read model that cannot fold an event falls behind alone: the write is recorded, the other read
models fold it, the failure is shown (`failures()`, `GET /idx/blocks`), and once the cause is fixed
`chainmail project` folds the read model from its events, exactly once, and it rejoins the writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, select

from chainmail.config import Settings
from chainmail.domain.mail.application import Mail, NewUser
from chainmail.domain.mail.mailboxes import Mailbox
from chainmail.domain.mail.users import User
from chainmail.http.app import create_app
from chainmail.projections.projection import Projection, handles
from chainmail.projections.registry import PROJECTIONS
from chainmail.projections.tracking import projection_tracking
from chainmail.projections.users import users
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.mail_support import create_user, mailbox_ids, upload

picky_table = Table(
    "test_picky_users",
    MetaData(),
    Column("seq", Integer, primary_key=True, autoincrement=True),  # a second fold of one event shows
    Column("username", String(100), nullable=False),
)
BROKEN: set[str] = set()  # usernames the read model cannot fold (a bug, until it is fixed)
# A table the read model writes to for the usernames in REFUSED, never created: the database refuses the
# statement (on PostgreSQL only once the save's pipelined statements come back, after the handler returned).
picky_messages_table = Table(
    "test_picky_messages",
    MetaData(),
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(200), nullable=False),
)
missing_table = Table("test_picky_missing", MetaData(), Column("username", String(100)))
REFUSED: set[str] = set()


class PickyUsers(Projection):
    """An inline read model of the test's own, with a bug that the test switches on and off."""

    name = "test_picky_users"
    follows = (Mail,)
    tables = (picky_table,)

    @handles(User.Created)
    def created(self, tx: Connection, e: Any) -> None:
        if e.username in BROKEN:
            raise ValueError(f"cannot fold {e.username}")
        if e.username in REFUSED:
            self.prepared("refused", lambda t: insert(missing_table), ["username"]).run(tx, {"username": e.username})
            return
        tx.execute(self.t.test_picky_users.insert().values(username=e.username))


class PickyMessages(Projection):
    """The same bug in a read model of messages: an upload folds it inside its account's turn."""

    name = "test_picky_messages"
    follows = (Mail,)
    tables = (picky_messages_table,)

    @handles(Mailbox.MessagesAppended)
    def appended(self, tx: Connection, e: Any) -> None:
        for m in e.messages:
            if m.get("subject") in BROKEN:
                raise ValueError(f"cannot fold {m['subject']}")
            tx.execute(self.t.test_picky_messages.insert().values(subject=m.get("subject")))


@pytest.fixture
def system(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[System]:
    monkeypatch.setattr("chainmail.system.PROJECTIONS", (*PROJECTIONS, PickyUsers, PickyMessages))
    BROKEN.clear()
    REFUSED.clear()
    system = System(Settings(database_url=database_url, api_access_token=ROOT_TOKEN, email_domain="example.com"))
    picky_table.create(system.engine)
    picky_messages_table.create(system.engine)
    yield system
    system.close()
    BROKEN.clear()
    REFUSED.clear()


def picky(system: System) -> list[str]:
    with system.engine.connect() as conn:
        return sorted(conn.execute(select(picky_table.c.username)).scalars())


def usernames(system: System) -> list[str]:
    with system.engine.connect() as conn:
        return sorted(conn.execute(select(users.c.username)).scalars())


def behind(system: System) -> bool:
    with system.engine.connect() as conn:
        query = select(projection_tracking).where(projection_tracking.c.projection == PickyUsers.name)
        return conn.execute(query).first() is not None


def create(system: System, username: str) -> None:
    system.mail.create_user(NewUser(username=username, password=""))


def test_a_read_model_that_cannot_fold_an_event_falls_behind_alone_and_rejoins_once_fixed(system: System) -> None:
    client = falcon.testing.TestClient(create_app(system))
    BROKEN.add("poison")
    for name in ("alice", "poison", "bob"):
        create(system, name)  # every write is recorded and answered

    assert usernames(system) == ["alice", "bob", "poison"]  # the other read models folded them all
    assert picky(system) == ["alice"]  # this one stopped at the event it could not fold
    assert "ValueError: cannot fold poison" in system.projections.failures()[PickyUsers.name]
    data = client.simulate_get("/idx/blocks").json["data"]
    assert data["overallHealth"] == "degraded"
    assert data["stoppedReadModels"] == [{"name": PickyUsers.name, "error": "ValueError: cannot fold poison"}]

    system.projections.catch_up_all()  # `chainmail project` meets the same event: still stopped, loudly
    assert picky(system) == ["alice"] and behind(system)
    assert PickyUsers.name in system.projections.failures()

    BROKEN.clear()  # the fix is deployed
    assert system.projections.catch_up_all() == 2
    assert picky(system) == ["alice", "bob", "poison"]
    assert not behind(system) and system.projections.failures() == {}
    assert client.simulate_get("/idx/blocks").json["data"]["stoppedReadModels"] == []

    create(system, "carol")  # inline again: folded by the write itself
    assert picky(system) == ["alice", "bob", "carol", "poison"]
    system.projections.replay(PickyUsers.name)
    assert picky(system) == ["alice", "bob", "carol", "poison"]


def test_a_statement_the_database_refuses_after_the_handler_returned_stops_that_read_model_alone(
    system: System,
) -> None:
    REFUSED.add("ghost")
    for name in ("alice", "ghost", "bob"):
        create(system, name)

    assert usernames(system) == ["alice", "bob", "ghost"]  # the write and the other read models
    assert picky(system) == ["alice"] and behind(system)
    assert "test_picky_missing" in system.projections.failures()[PickyUsers.name]

    REFUSED.clear()
    assert system.projections.catch_up_all() == 2
    assert picky(system) == ["alice", "bob", "ghost"] and not behind(system)
    create(system, "carol")
    assert picky(system) == ["alice", "bob", "carol", "ghost"]


def test_writes_during_the_fall_and_the_rejoin_are_folded_exactly_once(system: System) -> None:
    BROKEN.add("poison")
    create(system, "poison")
    BROKEN.clear()
    errors: list[BaseException] = []
    done = threading.Event()

    def write(number: int) -> None:
        try:
            for i in range(12):
                create(system, f"w{number}-{i}")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()

    def project() -> None:  # as `chainmail project`, while the writers run
        while not done.is_set() or behind(system):
            system.projections.catch_up_all()

    projector = threading.Thread(target=project)
    projector.start()
    for thread in threads:
        thread.join(120)
    done.set()
    projector.join(120)

    assert errors == []
    assert not behind(system)
    with system.engine.connect() as conn:
        folded = list(conn.execute(select(picky_table.c.username)).scalars())
    assert sorted(folded) == usernames(system)  # every user, none twice
    assert len(folded) == 1 + 6 * 12


def test_an_unknown_read_model_failure_of_the_whole_write_still_fails_the_write(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure that is not one read model's (the events cannot be stored) is the writer's error."""

    def broken(conn: Connection, stored: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(system.mail.recorder, "append_on", broken)
    if hasattr(system.mail.recorder, "send_append"):  # PostgreSQL: the append sent with the fold's statements
        monkeypatch.setattr(system.mail.recorder, "send_append", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        create(system, "dave")
    monkeypatch.undo()
    assert usernames(system) == [] and picky(system) == []


def test_an_upload_whose_fold_fails_runs_again_in_a_transaction_of_its_own_inside_the_account_turn(
    system: System,
) -> None:
    """On PostgreSQL an upload runs in its account's turn, whose connection opens each transaction itself: the
    save that runs again after a read model failed (each read model in a savepoint), and the next upload, whose
    strict gate finds that read model behind and runs again, both write in a transaction, all or nothing."""
    client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})
    user = create_user(client, "turner")
    inbox = mailbox_ids(client, user)["INBOX"]
    BROKEN.add("poison")
    for subject in ("first", "poison", "after"):
        upload(client, user, inbox, subject=subject)  # every upload is answered

    listed = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages").json["results"]
    assert sorted(m["subject"] for m in listed) == ["after", "first", "poison"]
    assert sorted(m["id"] for m in listed) == [1, 2, 3]
    folder = client.simulate_get(f"/api/users/{user}/mailboxes/{inbox}").json
    assert folder["total"] == 3 and folder["unseen"] == 3
    with system.engine.connect() as conn:
        assert list(conn.execute(select(picky_messages_table.c.subject))) == [("first",)]
    assert "cannot fold poison" in system.projections.failures()[PickyMessages.name]

    BROKEN.clear()
    assert system.projections.catch_up_all() >= 2
    with system.engine.connect() as conn:
        folded = sorted(conn.execute(select(picky_messages_table.c.subject)).scalars())
    assert folded == ["after", "first", "poison"]
