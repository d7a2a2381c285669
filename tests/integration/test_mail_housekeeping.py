"""What time does to a mail store: the quota recount, deleted accounts purged after `deleteAfter`,
messages past their folder's retention archived, archive entries dropped after `const:archive:time`.
The clock is injected, so every sweep is deterministic; each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import falcon.testing
import pytest
from sqlalchemy import Engine, Table, func, select, update

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.indexer.lock import ChainLock
from chainmail.mail import housekeeping as housekeeping_module
from chainmail.mail.housekeeping import SWEEPER_LOCK_KEY, Housekeeping
from chainmail.projections.account_archive import account_archive
from chainmail.projections.mailboxes import mailboxes
from chainmail.projections.messages import address_register, archived_messages, messages
from chainmail.projections.userdata import autoreplies, filters, stored_files
from chainmail.projections.users import users
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.mail_support import create_user, mailbox_ids, upload

DAY = timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed_system(settings: Settings, clock: Clock) -> Iterator[System]:
    system = System(settings, clock=clock)
    yield system
    system.close()


@pytest.fixture
def api(timed_system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(timed_system), headers={"X-Access-Token": ROOT_TOKEN})


def count(engine: Engine, table: Table, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def rows(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(select(table)))


# -- quota ------------------------------------------------------------------------------------------


def test_quota_reset_recounts_from_the_stored_messages_and_records_the_figure(
    api: falcon.testing.TestClient, timed_system: System
) -> None:
    user = create_user(api, "counted")
    inbox = mailbox_ids(api, user)["INBOX"]
    sizes = [upload(api, user, inbox, subject=f"m{n}")["size"] for n in range(3)]
    with timed_system.engine.begin() as conn:  # the shown figure drifted (a bug, a restore from backup...)
        conn.execute(update(users).where(users.c.id == user).values(storage_used=7))

    reset = api.simulate_post(f"/api/users/{user}/quota/reset")

    assert reset.json == {"success": True, "storageUsed": sum(sizes), "previousStorageUsed": 7}
    assert api.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"] == sum(sizes)
    # the figure is an event: a rebuilt users read model shows the same
    assert timed_system.projections.replay("users").swapped
    assert api.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"] == sum(sizes)
    again = api.simulate_post(f"/api/users/{user}/quota/reset").json
    assert again == {"success": True, "storageUsed": sum(sizes), "previousStorageUsed": sum(sizes)}


def test_quota_reset_of_every_user_fixes_each_drifted_figure(
    api: falcon.testing.TestClient, timed_system: System
) -> None:
    first, second = create_user(api, "drift1"), create_user(api, "drift2")
    size = upload(api, first, mailbox_ids(api, first)["INBOX"])["size"]
    with timed_system.engine.begin() as conn:
        conn.execute(update(users).values(storage_used=123))

    reset = api.simulate_post("/api/quota/reset")

    assert reset.status_code == 200 and reset.json["success"] is True and len(reset.json["task"]) == 24
    used = {u: api.simulate_get(f"/api/users/{u}").json["limits"]["quota"]["used"] for u in (first, second)}
    assert used == {first: size, second: 0}


def test_quota_reset_bad_input(api: falcon.testing.TestClient) -> None:
    missing = api.simulate_post("/api/users/0123456789abcdef01234567/quota/reset")
    assert missing.status_code == 404 and missing.json["code"] == "UserNotFound"
    assert api.simulate_post("/api/users/nope/quota/reset").status_code == 400
    assert api.simulate_post("/api/quota/reset", json={"extra": 1}).status_code == 400


# -- deleted accounts -----------------------------------------------------------------------------


def _fill(api: falcon.testing.TestClient, user: str) -> dict[str, str]:
    ids = mailbox_ids(api, user)
    upload(api, user, ids["INBOX"], subject="kept?")
    upload(api, user, ids["INBOX"], subject="archived")
    api.simulate_delete(f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages/2")
    folder = api.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Projects"}).json["id"]
    upload(api, user, folder, subject="in a folder")
    stored = api.simulate_post(
        f"/api/users/{user}/storage", json={"filename": "a.txt", "contentType": "text/plain", "content": "aGVsbG8="}
    )
    assert stored.status_code == 200, stored.text
    made = api.simulate_post(f"/api/users/{user}/filters", json={"query": {"from": "boss"}, "action": {"seen": True}})
    assert made.status_code == 200, made.text
    assert api.simulate_put(f"/api/users/{user}/autoreply", json={"status": True, "text": "away"}).status_code == 200
    return ids


def test_a_deleted_account_is_purged_once_delete_after_passes(
    api: falcon.testing.TestClient, timed_system: System, clock: Clock
) -> None:
    user = create_user(api, "leaving")
    _fill(api, user)
    engine = timed_system.engine
    housekeeping = Housekeeping(timed_system)
    delete_after = (clock.now + 2 * DAY).isoformat()
    assert api.simulate_delete(f"/api/users/{user}", params={"deleteAfter": delete_after}).status_code == 200

    clock.advance(DAY)
    assert not housekeeping.run_until_done()  # not due yet: everything is still there
    assert count(engine, messages, messages.c.user_id == user) == 2
    assert api.simulate_get(f"/api/users/{user}/restore").status_code == 200

    clock.advance(DAY + timedelta(seconds=1))
    swept = housekeeping.run_until_done()

    assert (swept.accounts, swept.messages_purged) == (1, 2)
    for table in (messages, archived_messages, mailboxes, stored_files, filters, autoreplies, address_register):
        assert count(engine, table, table.c.user_id == user) == 0, table.name
    assert count(engine, account_archive, account_archive.c.id == user) == 0
    assert api.simulate_get(f"/api/users/{user}/restore").json["code"] == "AccountNotFound"
    assert api.simulate_post(f"/api/users/{user}/restore").json["code"] == "AccountNotFound"
    assert not housekeeping.run_until_done()  # a second sweep finds nothing more
    # the purge is events: rebuilt read models agree
    live = [rows(engine, t) for t in (messages, archived_messages, mailboxes)]
    for name in ("messages", "mailboxes"):
        assert timed_system.projections.replay(name).swapped
    assert [rows(engine, t) for t in (messages, archived_messages, mailboxes)] == live


def test_an_account_restored_before_the_deadline_keeps_everything(
    api: falcon.testing.TestClient, timed_system: System, clock: Clock
) -> None:
    user = create_user(api, "changedmind")
    ids = _fill(api, user)
    used = api.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"]
    api.simulate_delete(f"/api/users/{user}", params={"deleteAfter": (clock.now + DAY).isoformat()})
    clock.advance(timedelta(hours=1))
    assert api.simulate_post(f"/api/users/{user}/restore").status_code == 200

    clock.advance(3 * DAY)
    assert not Housekeeping(timed_system).run_until_done()

    listed = api.simulate_get(f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages").json
    assert [m["subject"] for m in listed["results"]] == ["kept?"]
    assert api.simulate_get(f"/api/users/{user}/archived/messages").json["total"] == 1
    assert api.simulate_get(f"/api/users/{user}/storage").json["total"] == 1
    account = api.simulate_get(f"/api/users/{user}").json
    assert account["limits"]["quota"]["used"] == used


# -- retention and the archive ------------------------------------------------------------------------


def test_messages_past_their_folders_retention_move_to_the_archive_and_leave_it_later(
    api: falcon.testing.TestClient, timed_system: System, clock: Clock
) -> None:
    user = create_user(api, "retained")
    ids = mailbox_ids(api, user)
    short = api.simulate_post(
        f"/api/users/{user}/mailboxes", json={"path": "Short", "retention": int(DAY.total_seconds() * 1000)}
    ).json["id"]
    upload(api, user, short, subject="old news")
    upload(api, user, ids["INBOX"], subject="forever")
    housekeeping = Housekeeping(timed_system)

    clock.advance(timedelta(hours=23))
    assert not housekeeping.run_until_done()
    clock.advance(timedelta(hours=2))
    swept = housekeeping.run_until_done()

    assert (swept.messages_expired, swept.archive_purged) == (1, 0)
    assert api.simulate_get(f"/api/users/{user}/mailboxes/{short}/messages").json["total"] == 0
    box = api.simulate_get(f"/api/users/{user}/mailboxes/{short}").json
    assert (box["total"], box["unseen"]) == (0, 0)
    archived = api.simulate_get(f"/api/users/{user}/archived/messages").json
    assert [m["subject"] for m in archived["results"]] == ["old news"]
    inbox = api.simulate_get(f"/api/users/{user}/mailboxes/{ids['INBOX']}/messages").json
    assert [m["subject"] for m in inbox["results"]] == ["forever"]

    # const:archive:time (ms) decides how long the archive keeps it
    assert api.simulate_post("/api/settings/const:archive:time", json={"value": 2 * 86400 * 1000}).status_code == 200
    clock.advance(DAY)
    assert not housekeeping.run_until_done()
    clock.advance(DAY + timedelta(minutes=1))
    assert housekeeping.run_until_done().archive_purged == 1
    assert count(timed_system.engine, archived_messages, archived_messages.c.user_id == user) == 0
    assert count(timed_system.engine, messages, messages.c.user_id == user) == 1
    used = api.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"]
    assert api.simulate_post(f"/api/users/{user}/quota/reset").json["previousStorageUsed"] == used


def test_one_sweeper_at_a_time(settings: Settings, timed_system: System) -> None:
    """Two processes sweeping at once would remove an expired message twice: the second one waits."""
    other = System(settings)
    try:
        first, second = Housekeeping(timed_system), Housekeeping(other)
        lock = ChainLock(settings.database_url, SWEEPER_LOCK_KEY)
        assert lock.try_acquire()
        try:
            assert second.run_exclusively() is None
        finally:
            lock.release()
        assert first.run_exclusively() is not None
    finally:
        other.close()


def test_the_sweep_leaves_alone_what_a_client_changed_after_it_found_the_expired_messages(
    api: falcon.testing.TestClient, timed_system: System, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep finds expired messages, then removes them in the account's turn: a message the client
    deleted in between is not removed (nor archived) a second time, one it kept longer stays."""
    user = create_user(api, "busy-retained")
    short = api.simulate_post(
        f"/api/users/{user}/mailboxes", json={"path": "Short", "retention": int(DAY.total_seconds() * 1000)}
    ).json["id"]
    deleted = upload(api, user, short, subject="deleted meanwhile")["id"]
    kept = upload(api, user, short, subject="kept longer")["id"]
    clock.advance(DAY + timedelta(hours=1))
    found_by_the_sweep = housekeeping_module.messages_model.expired_messages

    def and_then_the_client_acts(*args: Any) -> list[dict[str, Any]]:
        found = found_by_the_sweep(*args)
        assert api.simulate_delete(f"/api/users/{user}/mailboxes/{short}/messages/{deleted}").status_code == 200
        later = (clock.now + 10 * DAY).isoformat()
        answer = api.simulate_put(f"/api/users/{user}/mailboxes/{short}/messages/{kept}", json={"expires": later})
        assert answer.status_code == 200, answer.text
        return found

    monkeypatch.setattr(housekeeping_module.messages_model, "expired_messages", and_then_the_client_acts)
    swept = Housekeeping(timed_system).run_until_done()

    assert swept.messages_expired == 0
    box = api.simulate_get(f"/api/users/{user}/mailboxes/{short}").json
    assert (box["total"], box["unseen"]) == (1, 1)
    listed = api.simulate_get(f"/api/users/{user}/mailboxes/{short}/messages").json
    assert [m["subject"] for m in listed["results"]] == ["kept longer"]
    archived = api.simulate_get(f"/api/users/{user}/archived/messages").json
    assert [m["subject"] for m in archived["results"]] == ["deleted meanwhile"]
    used = api.simulate_get(f"/api/users/{user}").json["limits"]["quota"]["used"]
    assert api.simulate_post(f"/api/users/{user}/quota/reset").json["previousStorageUsed"] == used
