"""`chainmail index` as real processes against anvil: a worker killed with SIGKILL mid-backfill loses and
repeats nothing, and a second worker for the same chain waits, then takes over from the checkpoint."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.utils import get_topic
from sqlalchemy import func, select

from chainmail.domain.chain.logs import LogPage
from chainmail.projections.blocks import evm_checkpoints
from chainmail.projections.chain_logs import evm_event_log
from chainmail.store.compression import FastZlib
from chainmail.store.database import make_engine
from chainmail.store.events import select_notifications
from tests.chain.anvil import Anvil
from tests.e2e.conftest import chainmail, chainmail_env

pytestmark = pytest.mark.e2e

BLOCKS, LOGS_PER_BLOCK = 100, 20


@pytest.fixture
def busy_chain() -> Iterator[tuple[Anvil, str]]:
    node = Anvil()
    mailer = node.deploy("MailerEvents")
    for i in range(BLOCKS):
        node.send(mailer.contract.functions.sendMany(node.accounts[1 + i % 5], f"block {i}", LOGS_PER_BLOCK), i % 5)
    yield node, mailer.address
    node.stop()


def _checkpoint(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(evm_checkpoints.c.block_number)).scalar() or -1)


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_is_replaced_by_the_waiting_one_and_no_event_is_lost_or_repeated(
    database_url: str, busy_chain: tuple[Anvil, str], tmp_path: Path
) -> None:
    node, mailer = busy_chain
    head = node.head()
    chains = {
        "31337": {
            "rpc_url": node.url,
            "mailer": mailer,
            "mailer_start_block": 0,
            "confirmations": 0,
            "max_block_range": 1,  # one block per page: a long backfill to interrupt
            "max_rps": 5,  # ~2.5 pages a second: slow enough to be killed mid-way on a busy machine
            "concurrency": 2,
            "polling_interval": 0.1,
        }
    }
    env = chainmail_env(database_url, tmp_path / "var", CHAINMAIL_CHAINS=json.dumps(chains))
    env["CHAINMAIL_LOG_LEVEL"] = "info"
    engine = make_engine(database_url)
    first = chainmail("index", "--chain", "31337", env=env, log=tmp_path / "first.log")
    second = None
    try:
        _wait(lambda: _checkpoint(engine) >= 10, 60, "the first worker to index some blocks")
        second = chainmail("index", "--chain", "31337", env=env, log=tmp_path / "second.log")
        _wait(lambda: "waiting for the chain's writer lock" in (tmp_path / "second.log").read_text(), 30, "the second")
        time.sleep(0.3)
        assert '"indexing"' not in (tmp_path / "second.log").read_text()  # it waits while the first one lives
        killed_at = _checkpoint(engine)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        assert killed_at < head, "the backfill finished before the kill; make the chain longer"

        _wait(lambda: _checkpoint(engine) >= head, 120, "the second worker to catch up")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
    assert second is not None and second.returncode == 0  # SIGTERM stops it cleanly

    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(evm_event_log)).scalar_one()
        distinct = conn.execute(
            select(func.count()).select_from(
                select(evm_event_log.c.tx_hash, evm_event_log.c.log_index).distinct().subquery()
            )
        ).scalar_one()
        pages = select_notifications(conn, "Chain", after=0, limit=10**6, topics=[get_topic(LogPage.Observed)])
    engine.dispose()
    assert rows == distinct == BLOCKS * LOGS_PER_BLOCK
    states = [json.loads(FastZlib().decompress(page.state)) for page in pages]
    appended = [(log["tx_hash"], log["log_index"]) for state in states for log in state["logs"]]
    assert len(appended) == len(set(appended)) == BLOCKS * LOGS_PER_BLOCK  # each log in the event store once
