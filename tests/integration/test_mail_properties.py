"""Properties of the mail store under random append/move/flag/delete sequences, and under real
parallel appends: UIDs only grow, counters equal a recount, a replayed read model equals the live one."""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from chainmail.config import Settings
from chainmail.domain.mail.application import NewUser
from chainmail.domain.mail.mailboxes import Mailbox
from chainmail.http.app import create_app
from chainmail.mail.store import MailStore
from chainmail.projections.mailboxes import mailboxes
from chainmail.projections.messages import MessagesProjection, messages
from chainmail.projections.users import users
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN


def raw(n: int) -> bytes:
    return f"From: a{n}@example.org\r\nSubject: message {n}\r\n\r\n{'body ' * n}\r\n".encode()


operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 2), st.integers(1, 3)),
        st.tuples(st.just("move"), st.integers(0, 2), st.integers(0, 2)),
        st.tuples(st.just("flag"), st.integers(0, 2), st.sampled_from(["seen", "flagged", "deleted"])),
        st.tuples(st.just("delete"), st.integers(0, 2), st.integers(0, 5)),
    ),
    min_size=1,
    max_size=14,
)


def table_rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return sorted((dict(r._mapping) for r in conn.execute(select(table))), key=repr)


@pytest.fixture
def store_system(database_url: str) -> Any:
    system = System(Settings(database_url=database_url, email_domain="example.com"))
    yield system
    system.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=operations)
def test_uids_only_grow_and_counters_equal_a_recount(store_system: System, script: list) -> None:
    system, store = store_system, MailStore(store_system)
    user = system.mail.create_user(NewUser(username=f"p{uuid.uuid4().hex[:10]}", password=""))
    folders = [system.mail.create_mailbox(user, f"F{n}") for n in range(3)]
    handed_out: dict[str, list[int]] = defaultdict(list)
    counter = 0
    for action, a, b in script:
        source = folders[a]
        with system.engine.connect() as conn:
            present = [dict(r._mapping) for r in conn.execute(select(messages).where(messages.c.mailbox_id == source))]
        if action == "append":
            for _ in range(b):
                counter += 1
                stored = store.store(user, source, raw(counter), flags=[], idate=datetime.now(UTC))
                handed_out[source].append(stored.uid)
        elif action == "move" and present:
            result = store.update_messages(user, source, present[:2], flags={}, move_to=folders[b])
            if folders[b] != source:
                handed_out[folders[b]].extend(new for _old, new in result["id"])
        elif action == "flag" and present:
            store.update_messages(user, source, present[:1], flags={b: not present[0][b]})
        elif action == "delete" and present:
            store.delete_messages(user, source, present[b % len(present) :][:1])

    for folder, uids in handed_out.items():
        assert uids == sorted(set(uids)), f"UIDs in {folder} repeat or go back: {uids}"
    with system.engine.connect() as conn:
        for folder in folders:
            box = system.mail.repository.get(Mailbox.create_id(folder))
            row = conn.execute(select(mailboxes).where(mailboxes.c.id == folder)).one()
            assert row.uid_next == box.uid_next and row.modify_index == box.modify_index
            in_folder = messages.c.mailbox_id == folder
            total, unseen, size = conn.execute(
                select(
                    func.count(),
                    func.count().filter(messages.c.seen.is_(False)),
                    func.coalesce(func.sum(messages.c.size), 0),
                ).where(in_folder)
            ).one()
            assert (row.total, row.unseen, row.size) == (total, unseen, size)
            top = conn.execute(select(func.max(messages.c.uid)).where(in_folder)).scalar()
            assert top is None or top < box.uid_next
        used = conn.execute(select(users.c.storage_used).where(users.c.id == user)).scalar_one()
        recount = conn.execute(select(func.coalesce(func.sum(messages.c.size), 0)).where(messages.c.user_id == user))
        assert used == recount.scalar_one()


def test_a_replayed_mail_store_equals_the_live_one(store_system: System) -> None:
    """One long random script (seeded), then every mail-store read model is rebuilt from the first event."""
    system, store = store_system, MailStore(store_system)
    rng = random.Random(5)
    user = system.mail.create_user(NewUser(username="replayer", password=""))
    folders = [system.mail.create_mailbox(user, f"F{n}") for n in range(3)]
    for n in range(60):
        source = rng.choice(folders)
        with system.engine.connect() as conn:
            present = [dict(r._mapping) for r in conn.execute(select(messages).where(messages.c.mailbox_id == source))]
        action = rng.choice(["append", "append", "move", "flag", "delete"])
        if action == "append" or not present:
            store.store(user, source, raw(n), flags=rng.choice([[], ["\\Seen"]]), idate=datetime.now(UTC))
        elif action == "move":
            store.update_messages(user, source, rng.sample(present, 1), flags={}, move_to=rng.choice(folders))
        elif action == "flag":
            store.update_messages(user, source, rng.sample(present, 1), flags={"flagged": rng.random() < 0.5})
        else:
            store.delete_messages(user, source, rng.sample(present, 1))

    for projection, tables in (
        ("messages", MessagesProjection.tables),
        ("mailboxes", (mailboxes,)),
        ("users", (users,)),
    ):
        live = [table_rows(system.engine, t) for t in tables]
        assert system.projections.replay(projection).swapped
        assert [table_rows(system.engine, t) for t in tables] == live


def test_parallel_appends_to_one_mailbox_never_lose_or_reuse_a_uid(database_url: str) -> None:
    """Several workers, each with its own System (engine, event store connection), post at once."""
    settings_ = Settings(database_url=database_url, api_access_token=ROOT_TOKEN, email_domain="example.com")
    workers = [System(settings_) for _ in range(4)]
    try:
        clients = [falcon.testing.TestClient(create_app(w), headers={"X-Access-Token": ROOT_TOKEN}) for w in workers]
        user = (
            clients[0].simulate_post("/api/users", json={"username": "parallel", "password": "secretvalue"}).json["id"]
        )
        inbox = next(
            m["id"]
            for m in clients[0].simulate_get(f"/api/users/{user}/mailboxes").json["results"]
            if m["path"] == "INBOX"
        )
        per_worker = 6
        results: list[list[int]] = [[] for _ in workers]
        errors: list[str] = []
        start = threading.Barrier(len(workers))

        def work(index: int) -> None:
            start.wait()
            for n in range(per_worker):
                answer = clients[index].simulate_post(
                    f"/api/users/{user}/mailboxes/{inbox}/messages",
                    json={"subject": f"w{index} n{n}", "text": "parallel"},
                )
                if answer.status_code == 200:
                    results[index].append(answer.json["message"]["id"])
                else:
                    errors.append(answer.text)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(workers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        uids = sorted(uid for r in results for uid in r)
        assert uids == list(range(1, len(workers) * per_worker + 1))
        listed = clients[1].simulate_get(f"/api/users/{user}/mailboxes/{inbox}/messages", params={"limit": 250}).json
        assert listed["total"] == len(uids)
        assert sorted(m["id"] for m in listed["results"]) == uids
    finally:
        for w in workers:
            w.close()
