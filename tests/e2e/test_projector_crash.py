"""`kill -9` of `chainmail project` in the middle of a catch-up loses nothing and repeats nothing."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from chainmail.config import Settings
from chainmail.domain.mail.application import Mail, NewUser
from chainmail.projections.registry import PROJECTIONS
from chainmail.projections.tracking import projection_tracking
from chainmail.store.database import make_engine
from chainmail.store.events import event_store_env
from chainmail.system import System
from tests.e2e.conftest import chainmail, chainmail_env
from tests.integration.test_projections import rows

USERS = 400


def positions(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(projection_tracking.c.projection, projection_tracking.c.position)).all())


@pytest.mark.e2e
def test_a_killed_projector_resumes_to_what_a_fresh_replay_builds(database_url: str, tmp_path: Path) -> None:
    # Events recorded by a writer that projects nothing itself: `chainmail project` has all the work.
    mail = Mail(env=event_store_env(database_url, create_tables=False), email_domain="example.com")
    for i in range(USERS):
        mail.create_user(NewUser(username=f"crash{i}", password="", tags=[f"t{i % 5}"]))
    mail.close()
    engine = make_engine(database_url)
    env = chainmail_env(database_url, tmp_path / "var", CHAINMAIL_PROJECTION_BATCH_SIZE="10")

    first = chainmail("project", env=env, log=tmp_path / "project-1.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not 0 < users_projected(engine) < USERS:
        time.sleep(0.005)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    projected_at_kill = users_projected(engine)
    log = (tmp_path / "project-1.log").read_text()
    assert 0 < projected_at_kill < USERS, f"not killed mid catch-up ({projected_at_kill} users): {log}"

    second = chainmail("project", env=env, log=tmp_path / "project-2.log")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if users_projected(engine) == USERS and _settled(engine):
                break
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    live = {p.name: rows(engine, p) for p in PROJECTIONS}
    system = System(Settings(database_url=database_url))
    for projection in PROJECTIONS:
        system.projections.replay(projection.name)
        assert rows(engine, projection) == live[projection.name], projection.name
    assert len(live["users"]["users"]) == USERS
    assert len(live["mailboxes"]["mailboxes"]) == USERS * 5
    system.close()
    engine.dispose()


def users_projected(engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(PROJECTIONS[0].tables[0].c.id)).all())


def _settled(engine) -> bool:
    before = positions(engine)
    time.sleep(0.5)
    return positions(engine) == before and len(before) == len(PROJECTIONS)
