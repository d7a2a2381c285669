"""Past one machine on PostgreSQL: two API instances, two projection workers, two index workers for one anvil
chain and two delivery workers share one database; one of each is killed with SIGKILL mid-load, and nothing
acknowledged is lost or doubled while the survivors take over (except what SMTP itself may double: the one
message the killed delivery worker had handed over but not yet recorded)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from chainmail.projections.blocks import evm_checkpoints
from chainmail.projections.chain_logs import evm_event_log
from chainmail.projections.outbound import outbound_queue
from chainmail.projections.users import users
from chainmail.store.database import make_engine
from tests.chain.anvil import Anvil
from tests.e2e.conftest import ROOT_TOKEN, chainmail_env, free_port
from tests.integration.smtp_peers import Peer, smtp_peer

pytestmark = pytest.mark.e2e

BLOCKS, LOGS_PER_BLOCK = 60, 10
USERS = 30
KILL_AT = 10  # users created before one of each kind of process is killed


@pytest.fixture
def chain() -> Iterator[tuple[Anvil, str]]:
    node = Anvil()
    mailer = node.deploy("MailerEvents")
    for i in range(BLOCKS):
        node.send(mailer.contract.functions.sendMany(node.accounts[1 + i % 5], f"block {i}", LOGS_PER_BLOCK), i % 5)
    yield node, mailer.address
    node.stop()


@pytest.fixture
def peer() -> Iterator[Peer]:
    with smtp_peer() as running:
        yield running


class Processes:
    """Started in their own session each, so a SIGKILL of gunicorn's master takes its workers along."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "chainmail.cli", *args],
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        os.killpg(self.started[name].pid, signal.SIGKILL)
        self.started[name].wait(timeout=10)

    def stop_all(self) -> dict[str, int | None]:
        for process in self.started.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.started.items():
            try:
                codes[name] = process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes[name] = process.wait()
        return codes


def wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health", headers={"X-Access-Token": ROOT_TOKEN}, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_survivors_take_over_and_nothing_is_lost_or_doubled(
    database_url: str, chain: tuple[Anvil, str], peer: Peer, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several machines share one PostgreSQL")
    node, mailer = chain
    head = node.head()
    chains = {
        "31337": {
            "rpc_url": node.url,
            "mailer": mailer,
            "mailer_start_block": 0,
            "confirmations": 0,
            "max_block_range": 1,  # one block per page, slowly: a backfill that is still running at the kill
            "max_rps": 4,
            "concurrency": 1,
            "polling_interval": 0.1,
        }
    }
    env = chainmail_env(
        database_url,
        tmp_path / "var",
        CHAINMAIL_CHAINS=json.dumps(chains),
        CHAINMAIL_WORKERS="1",
        CHAINMAIL_SMTP_RELAY=peer.url,
        CHAINMAIL_DELIVER_POLL_INTERVAL="0.2",
        CHAINMAIL_DELIVER_CLAIM_LEASE="3",
    )
    env["CHAINMAIL_LOG_LEVEL"] = "info"
    ports = {"api-a": free_port(), "api-b": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    run = Processes(tmp_path, env)
    engine = make_engine(database_url)
    try:
        for name, port in ports.items():
            run.start(name, "serve", CHAINMAIL_PORT=str(port))
        run.start("project-a", "project")
        run.start("project-b", "project")
        run.start("index-a", "index", "--chain", "31337")
        wait(lambda: '"indexing' in run.log("index-a") or "indexing " in run.log("index-a"), 120, "index-a")
        run.start("index-b", "index", "--chain", "31337")
        run.start("deliver-a", "deliver")
        run.start("deliver-b", "deliver")
        wait(lambda: all(healthy(url) for url in urls.values()), 180, "both API instances")
        wait(lambda: "waiting for the chain's writer lock" in run.log("index-b"), 60, "the standby index worker")

        acknowledged: list[str] = []  # users the API answered 200 for
        submitted: list[str] = []  # recipients of mail the API answered 200 for
        client = httpx.Client(headers={"X-Access-Token": ROOT_TOKEN}, timeout=30)
        alive = ["api-a", "api-b"]

        def call(method: str, path: str, body: dict) -> httpx.Response | None:
            for name in alive:  # a gone instance's requests go to the next one, as a balancer does
                try:
                    return client.request(method, urls[name] + path, json=body)
                except httpx.TransportError:
                    continue
            return None

        sender = call("POST", "/api/users", {"username": "sender", "password": "secret-pass-1"})
        assert sender is not None and sender.status_code == 200, sender and sender.text
        sender_id = sender.json()["id"]
        killed_at: dict[str, int] = {}
        for i in range(USERS):
            if i == KILL_AT:
                with engine.connect() as conn:
                    killed_at["checkpoint"] = int(conn.execute(select(evm_checkpoints.c.block_number)).scalar() or -1)
                for name in ("api-a", "project-a", "index-a", "deliver-a"):
                    run.kill(name)
                alive.remove("api-a")
            alive.append(alive.pop(0))  # round robin over the live instances
            answer = call("POST", "/api/users", {"username": f"load{i}", "password": "secret-pass-1"})
            if answer is not None and answer.status_code == 200:
                acknowledged.append(f"load{i}")
            recipient = f"r{i}@elsewhere.test"
            mail = call("POST", f"/api/users/{sender_id}/submit", {"to": [{"address": recipient}], "text": f"#{i}"})
            if mail is not None and mail.status_code == 200:
                submitted.append(recipient)
        assert killed_at["checkpoint"] < head, "the backfill finished before the kill; make the chain longer"
        assert len(acknowledged) == len(submitted) == USERS  # the survivor answered everything after the kill

        progress: list[str] = []

        def caught_up() -> bool:
            with engine.connect() as conn:
                checkpoint = int(conn.execute(select(evm_checkpoints.c.block_number)).scalar() or -1)
                pending = conn.execute(
                    select(func.count()).select_from(outbound_queue).where(outbound_queue.c.status != "delivered")
                ).scalar_one()
                folded = conn.execute(
                    select(func.count()).select_from(users).where(users.c.username.like("load%"))
                ).scalar_one()
            progress[:] = [f"checkpoint {checkpoint}/{head}", f"undelivered {pending}", f"users {folded}"]
            progress.append(f"received {len(peer.received)}/{USERS}")
            return checkpoint >= head and pending == 0 and folded >= len(acknowledged) and len(peer.received) >= USERS

        try:
            wait(caught_up, 240, "the survivors to index the chain, fold every event and deliver every message")
        except AssertionError as timeout:
            raise AssertionError(f"{timeout}: {progress}") from None
    finally:
        codes = run.stop_all()
    assert all(codes[name] == 0 for name in ("api-b", "project-b", "index-b", "deliver-b")), codes

    with engine.connect() as conn:
        names = [row.username for row in conn.execute(select(users.c.username)).all()]
        logs = conn.execute(select(func.count()).select_from(evm_event_log)).scalar_one()
        distinct_logs = conn.execute(
            select(func.count()).select_from(
                select(evm_event_log.c.tx_hash, evm_event_log.c.log_index).distinct().subquery()
            )
        ).scalar_one()
        statuses = dict(
            conn.execute(select(outbound_queue.c.status, func.count()).group_by(outbound_queue.c.status)).all()
        )
    engine.dispose()
    assert sorted(n for n in names if n.startswith("load")) == sorted(acknowledged)  # none lost, none twice
    assert logs == distinct_logs == BLOCKS * LOGS_PER_BLOCK
    assert statuses == {"delivered": USERS}
    delivered_to = sorted(r for received in peer.received for r in received.rcpt_tos)
    assert sorted(set(delivered_to)) == sorted(submitted)  # every message reached its recipient
    # SMTP's own window (RFC 5321, 6.1): a message the killed worker had handed to the peer, but not yet recorded
    # as delivered, is sent again by the survivor once the claim lapses. A worker sends one message at a time,
    # so at most one message arrives twice, and never one the killed worker recorded.
    doubled = {r for r in delivered_to if delivered_to.count(r) > 1}
    lines = run.log("deliver-a").splitlines()
    recorded_by_killed = {json.loads(line)["recipient"] for line in lines if '"delivery"' in line}
    assert len(doubled) <= 1 and len(delivered_to) <= len(submitted) + 1, delivered_to
    assert not doubled & recorded_by_killed, (doubled, recorded_by_killed)
