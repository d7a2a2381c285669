"""Reorgs on a real anvil node: after blocks are replaced, every chain read model equals a fresh index
of the canonical chain, row for row; and a generated property test over sends, delegations and reorgs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from chainmail.config import Settings
from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.logs import LogPage, LogRecord
from chainmail.projections import blocks
from chainmail.projections.chain_logs import evm_event_log
from chainmail.projections.chain_mails import mails_of
from chainmail.system import System
from tests.chain.anvil import Anvil
from tests.chain.databases import fresh_database
from tests.chain.harness import index, indexer, read_models, spec_for

ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    node = Anvil()
    yield node
    node.stop()


@pytest.fixture
def clean_chain(anvil: Anvil) -> Iterator[Anvil]:
    """The module's node, back at its genesis state after the test."""
    snapshot = anvil.snapshot()
    yield anvil
    anvil.revert(snapshot)


def _activity(anvil: Anvil, mailer: Any, tag: str, blocks: int) -> None:
    """`blocks` blocks of mails, delegations and shares, their content marked with `tag`."""
    f, a = mailer.contract.functions, anvil.accounts
    for i in range(blocks):
        kind = i % 4
        if kind == 0:
            anvil.send(f.send(a[1 + i % 3], f"{tag}-{i}", "body", a[0], True, False, True), 0)
        elif kind == 1:
            anvil.send(f.delegateTo(a[(i + 2) % 5 + 1]), 1 + i % 3)
        elif kind == 2:
            anvil.send(f.sendPrepared(a[2], f"{tag}-prepared-{i}", a[0], False, False), 3)
        else:
            anvil.send(f.rejectDelegation(a[1 + i % 3]), (i + 2) % 5 + 1)


@pytest.mark.parametrize(("depth", "partial"), [(1, False), (8, True), (20, False), (20, True)])
def test_after_a_reorg_read_models_equal_a_fresh_index_of_the_canonical_chain(
    system: System,
    clean_chain: Anvil,
    depth: int,
    partial: bool,
    database_url: str,
    sqlite_template: Path,
    pg_template: str | None,
    tmp_path: Path,
) -> None:
    anvil = clean_chain
    mailer = anvil.deploy("MailerEvents")
    spec = spec_for(anvil, [mailer.address], max_block_range=2)
    _activity(anvil, mailer, "base", 6)
    fork, first_orphan = anvil.snapshot(), anvil.head() + 1
    _activity(anvil, mailer, "orphan", depth)
    if partial:
        # mid-backfill: pages read into the orphaned blocks, the rest of them not yet
        worker = indexer(system, spec)
        while worker.cursor is None or worker.cursor.block < first_orphan:
            worker.step()
        assert worker.cursor.block < anvil.head()
    else:
        index(system, spec)
    anvil.revert(fork)
    _activity(anvil, mailer, "canonical", depth + 1)

    index(system, spec)

    with fresh_database(database_url, sqlite_template, pg_template, tmp_path) as url:
        fresh = System(Settings(database_url=url, email_domain="example.com"))
        try:
            index(fresh, spec)
            expected = read_models(fresh.engine)
        finally:
            fresh.close()
    got = read_models(system.engine)
    assert got == expected
    # replaying the event store (observations and reverts in order) rebuilds the same read models
    for name in ("evm_blocks", "evm_event_log", "evm_mails", "evm_delegations", "threedns_names"):
        system.projections.replay(name)
    assert read_models(system.engine) == expected
    with system.engine.connect() as conn:
        subjects = [m["subject"] for m in mails_of(conn, 31337) if m["subject"]]
    assert not any(s.startswith("orphan") for s in subjects)
    assert any(s.startswith("canonical") for s in subjects)


def test_a_block_that_comes_back_after_a_revert_has_its_logs_reinstated(system: System) -> None:
    chain = system.context(Chain)
    cursor = chain.cursor(5, 100)
    block_hash = "0x" + "ab" * 32
    record = LogRecord(
        chain_id=5,
        contract="mailer",
        address="0x" + "11" * 20,
        event="DelegationSet",
        abi_version="current",
        block_number=100,
        block_hash=block_hash,
        block_time=1_700_000_000,
        tx_hash="0x" + "cd" * 32,
        tx_index=0,
        log_index=0,
        args={"delegator": "0x" + "22" * 20, "delegate": "0x" + "33" * 20},
        tx_from="0x" + "22" * 20,
    )
    header = [100, block_hash, "0x" + "99" * 32, 1_700_000_000]
    chain.record_logs(cursor, [record], to_block=100, to_hash=block_hash, headers=[header])
    chain.revert_blocks(cursor, 100)
    with system.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(evm_event_log)).scalar_one() == 0

    chain.record_logs(cursor, [record], to_block=100, to_hash=block_hash, headers=[header])

    with system.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(evm_event_log)).scalar_one() == 1
    again: LogPage = chain.repository.get(LogPage.create_id(5, cursor.version))
    assert (again.from_block, again.to_block, again.count) == (100, 100, 1)
    (observed,) = chain.repository.event_store.get(again.id)
    assert observed.returned == [block_hash]  # the page says the block is canonical again


def test_a_long_followed_chain_loads_its_checkpoint_from_a_snapshot(system: System) -> None:
    chain = system.context(Chain)
    cursor = chain.cursor(7, 1)
    for number in range(1, 221):
        block_hash = f"0x{number:064x}"
        chain.record_logs(cursor, [], to_block=number, to_hash=block_hash, headers=[[number, block_hash, None, 0]])
    chain.revert_blocks(cursor, 211)

    assert chain.snapshots is not None
    snapshots = list(chain.snapshots.get(cursor.id, desc=True, limit=1))
    assert snapshots and snapshots[0].originator_version == 200
    loaded = chain.cursor(7, 1)
    assert (loaded.version, loaded.block, loaded.hash) == (cursor.version, 210, f"0x{210:064x}")
    assert loaded.recent == cursor.recent and sorted(loaded.recent)[-1] == 210 and len(loaded.recent) == 210
    assert loaded.reverted == cursor.reverted


# -- property: any sequence of sends, delegations, rejections, index runs and reorgs ---------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("delegate"), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("reject"), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("index"), st.just(0), st.just(0)),
        st.tuples(st.just("reorg"), st.integers(1, 6), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=12,
)


@pytest.fixture(scope="module")
def property_chain(anvil: Anvil) -> Iterator[tuple[Anvil, Any, dict[str, str]]]:
    snapshot = anvil.snapshot()
    mailer = anvil.deploy("MailerEvents")
    yield anvil, mailer, {"start": anvil.snapshot()}  # anvil forgets a snapshot once reverted to it
    anvil.revert(snapshot)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, pg_template: str | None) -> str:
    if request.param == "postgres" and pg_template is None:
        pytest.skip("!!! PostgreSQL is not reachable: PostgreSQL cases skipped !!!")
    return str(request.param)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(script=operations)
def test_read_models_after_any_sequence_of_reorgs_equal_a_fresh_index(
    property_chain: tuple[Anvil, Any, dict[str, str]],
    store: str,
    sqlite_template: Path,
    pg_template: str | None,
    tmp_path: Path,
    script: list,
) -> None:
    anvil, mailer, start = property_chain
    anvil.revert(start["start"])
    start["start"] = anvil.snapshot()
    f, a = mailer.contract.functions, anvil.accounts
    spec = spec_for(anvil, [mailer.address], max_block_range=3)
    snapshots: list[tuple[int, str]] = []  # (head before the block, snapshot)
    tag = uuid.uuid4().hex[:6]

    def mine(call: Any, sender: int) -> None:
        snapshots.append((anvil.head(), anvil.snapshot()))
        anvil.send(call, sender)

    with fresh_database(store, sqlite_template, pg_template, tmp_path) as url:
        system = System(Settings(database_url=url, email_domain="example.com"))
        try:
            for n, (op, x, y) in enumerate(script):
                if op == "send":
                    mine(f.send(a[y + 4], f"{tag}-{n}", "", a[x], False, False, True), x)
                elif op == "delegate":
                    mine(f.delegateTo(a[y + 4] if x != y else ZERO), x)
                elif op == "reject":
                    mine(f.rejectDelegation(a[y]), x + 4 if x % 2 else x)
                elif op == "index":
                    index(system, spec)
                elif op == "reorg" and snapshots:
                    depth = min(x, len(snapshots))
                    _head, snapshot = snapshots[-depth]
                    del snapshots[-depth:]
                    anvil.revert(snapshot)
                    for k in range(y):
                        mine(f.send(a[5], f"{tag}-{n}-reorg-{k}", "", a[k % 4], False, False, True), k % 4)
            index(system, spec)
            got = read_models(system.engine)
        finally:
            system.close()
    with fresh_database(store, sqlite_template, pg_template, tmp_path) as url:
        fresh = System(Settings(database_url=url, email_domain="example.com"))
        try:
            index(fresh, spec)
            expected = read_models(fresh.engine)
        finally:
            fresh.close()
    assert got == expected


def test_block_headers_far_below_the_checkpoint_are_pruned(system: System, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "KEEP_BLOCKS", 10)
    chain = system.context(Chain)
    cursor = chain.cursor(9, 1)
    for number in range(1, 31):
        block_hash = f"0x{number:064x}"
        chain.record_logs(cursor, [], to_block=number, to_hash=block_hash, headers=[[number, block_hash, None, 0]])
    chain.revert_blocks(cursor, 28)
    with system.engine.connect() as conn:
        kept = conn.execute(select(blocks.evm_blocks.c.block_number).order_by(blocks.evm_blocks.c.block_number))
        assert list(kept.scalars()) == list(range(21, 28))
        checkpoint = conn.execute(select(blocks.evm_checkpoints)).one()
    assert (checkpoint.block_number, checkpoint.block_hash) == (27, f"0x{27:064x}")
