"""Audits as of a time: the state replayed up to time T equals what the live read models showed at T, and
`chainmail audit wallet` traces a balance to the events behind it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import MetaData, Table, inspect, select

from chainmail.audit import AsOf, audit_wallet, notification_bound, parse_block, parse_time, replay_bound
from chainmail.domain.rewards.application import Rewards
from chainmail.projections.points import points_balances
from chainmail.store.events import max_notification_id
from chainmail.system import System

WALLETS = ["0x" + "a" * 40, "0x" + "b" * 40]
ACTIVITIES = ["referral", "delegate", "first_login", "priority_mail"]


def balances(system: System, table: Table = points_balances) -> dict[str, int]:
    with system.engine.connect() as conn:
        return {row.wallet: row.points_earned for row in conn.execute(select(table.c.wallet, table.c.points_earned))}


def awards() -> st.SearchStrategy[list[tuple[int, str]]]:
    return st.lists(st.tuples(st.integers(0, 1), st.sampled_from(ACTIVITIES)), min_size=1, max_size=5)


@pytest.mark.parametrize("text", ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05", "1767323045"])
def test_times_parse_as_utc(text: str) -> None:
    assert parse_time(text) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_blocks_parse_and_nonsense_is_refused() -> None:
    assert parse_block("8453:38900000") == (8453, 38900000)
    with pytest.raises(SystemExit):
        parse_block("base:12")
    with pytest.raises(SystemExit):
        parse_time("yesterday")


@given(steps=awards(), data=st.data())
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_state_as_of_t_is_what_the_live_read_model_showed_at_t(
    database_url: str, steps: list[tuple[int, str]], data: st.DataObject
) -> None:
    from chainmail.config import Settings

    system = System(Settings(database_url=database_url))
    rewards = system.context(Rewards)
    seen: list[tuple[datetime, dict[str, int]]] = [(datetime.now(UTC), balances(system))]
    try:
        for wallet, activity in steps:
            time.sleep(0.002)  # events of one step are strictly later than the moment taken before it
            rewards.award(WALLETS[wallet], "evm", activity, reason=f"test {activity}")
            time.sleep(0.002)
            seen.append((datetime.now(UTC), balances(system)))
        at, live = data.draw(st.sampled_from(seen))
        bound = replay_bound(system, "points", AsOf(at=at))
        assert bound == notification_bound(system, "Rewards", AsOf(at=at))
        result = system.projections.replay("points", until=bound)
        replayed = Table(result.tables["points_balances"], MetaData(), autoload_with=system.engine)
        assert balances(system, replayed) == live
        for wallet, points in live.items():
            report = audit_wallet(system, wallet, AsOf(at=at))
            assert f"points: {points}" in report
            entries = [line for line in report if "Rewards notification" in line and "aggregate" in line]
            assert entries and all("notification None" not in line for line in entries)
    finally:
        system.close()


def test_the_commands_audit_a_wallet_and_replay_as_of_a_time(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chainmail.cli import main
    from chainmail.config import Settings

    system = System(Settings(database_url=database_url))
    rewards = system.context(Rewards)
    rewards.award(WALLETS[0], "evm", "referral", reason="first")
    time.sleep(0.01)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    rewards.award(WALLETS[0], "evm", "delegate", reason="second")
    system.close()
    monkeypatch.setenv("CHAINMAIL_DATABASE_URL", database_url)

    main(["audit", "wallet", WALLETS[0].upper().replace("0X", "0x"), "--at", between])
    report = capsys.readouterr().out
    assert "points: 50" in report and "referral +50 -> 50 (first)" in report and "delegate" not in report
    main(["audit", "wallet", WALLETS[0]])
    assert "points: 150" in capsys.readouterr().out
    main(["replay", "points", "--at", between])
    check = System(Settings(database_url=database_url))
    replayed = [name for name in inspect(check.engine).get_table_names() if "__at_" in name]
    check.close()
    assert any(name.startswith("points_balances__at_") for name in replayed), replayed
    with pytest.raises(SystemExit):
        main(["replay", "points", "--at", between, "--until", "3"])


def test_a_wallet_as_of_a_block_sees_only_what_the_chain_held_then(system: System) -> None:
    from tests.chain.anvil import Anvil
    from tests.chain.harness import index, spec_for

    node = Anvil()
    try:
        mailer = node.deploy("MailerEvents")
        f, a = mailer.contract.functions, node.accounts
        delegator, delegate = a[1].lower(), a[2].lower()
        spec = spec_for(node, [mailer.address])
        node.send(f.delegateTo(a[2]), 1)
        node.send(f.send(a[2], "Hello", "First", a[1], True, True, True), 1)
        then = index(system, spec)
        node.send(f.rejectDelegation(a[1]), 2)  # the delegate clears it
        node.send(f.send(a[2], "Again", "Second", a[1], True, True, True), 1)
        assert index(system, spec) > then
    finally:
        node.stop()

    point = AsOf(chain_id=31337, block=then)
    past = audit_wallet(system, delegator, point)
    assert "mails sent: 1" in past and "delegations: 1 active" in past
    active = past[past.index("delegations: 1 active") + 1]
    assert active.startswith(f"  {delegator} -> {delegate}: chain 31337 block ") and " tx 0x" in active
    now = audit_wallet(system, delegator, AsOf())
    assert "mails sent: 2" in now and "delegations: 0 active" in now
    received = audit_wallet(system, delegate, point)
    assert "mails received: 1" in received

    # the bound: the page that reached `then`, not the one after it
    bound = replay_bound(system, "evm_delegations", point)
    with system.engine.connect() as conn:
        last = max_notification_id(conn, "Chain")
    assert 0 < bound < last
    assert notification_bound(system, "Chain", AsOf(chain_id=31337, block=then + 100)) == last
