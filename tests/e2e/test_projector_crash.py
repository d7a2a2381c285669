"""`kill -9` of `chainmail project` in the middle of a catch-up of an asynchronous read model (the site's points
statistics) loses nothing and repeats nothing."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from chainmail.config import Settings
from chainmail.domain.rewards.application import Rewards
from chainmail.projections.points_stats import PointsSiteStatsProjection, points_site_wallets
from chainmail.projections.tracking import projection_tracking
from chainmail.store.database import make_engine
from chainmail.store.events import event_store_env
from chainmail.system import System
from tests.e2e.conftest import chainmail, chainmail_env
from tests.integration.test_projections import rows

WALLETS = 400
POINTS = 5  # a `send`, by default


def positions(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(projection_tracking.c.projection, projection_tracking.c.position)).all())


@pytest.mark.e2e
def test_a_killed_projector_resumes_to_what_a_fresh_replay_builds(database_url: str, tmp_path: Path) -> None:
    # Points awarded by a writer that projects nothing itself: `chainmail project` has all the work.
    rewards = Rewards(env=event_store_env(database_url, create_tables=False))
    for i in range(WALLETS):
        rewards.award(f"0x{i:040x}", "evm", "send")
    rewards.close()
    engine = make_engine(database_url)
    env = chainmail_env(database_url, tmp_path / "var", CHAINMAIL_PROJECTION_BATCH_SIZE="10")

    first = chainmail("project", env=env, log=tmp_path / "project-1.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not 0 < wallets_projected(engine) < WALLETS:
        time.sleep(0.005)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    projected_at_kill = wallets_projected(engine)
    log = (tmp_path / "project-1.log").read_text()
    assert 0 < projected_at_kill < WALLETS, f"not killed mid catch-up ({projected_at_kill} wallets): {log}"

    second = chainmail("project", env=env, log=tmp_path / "project-2.log")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if wallets_projected(engine) == WALLETS and _settled(engine):
                break
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    live = rows(engine, PointsSiteStatsProjection)
    system = System(Settings(database_url=database_url))
    system.projections.replay(PointsSiteStatsProjection.name)
    assert rows(engine, PointsSiteStatsProjection) == live
    assert len(live["points_site_wallets"]) == WALLETS
    (stats,) = live["points_site_stats"]
    assert stats["total_users"] == WALLETS and stats["total_points"] == WALLETS * POINTS
    system.close()
    engine.dispose()


def wallets_projected(engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(points_site_wallets.c.wallet)).all())


def _settled(engine) -> bool:
    before = positions(engine)
    time.sleep(0.5)
    return positions(engine) == before
