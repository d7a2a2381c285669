"""The chain read models fold a page of logs set-based (one read of the state a page needs, rows in one
go, one upsert per table); whatever the logs and however they are cut into pages, the rows equal a plain
fold of the same logs one at a time, and the stateful ones equal the domain rules applied log by log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, delete, select

from chainmail.domain.chain.abi import CURRENT, MAILER, THREEDNS
from chainmail.domain.chain.delegations import ZERO_ADDRESS, delegation_effect
from chainmail.domain.chain.logs import LogRecord
from chainmail.projections.chain_logs import ChainProjection, EventLogProjection
from chainmail.projections.chain_mails import MailsProjection
from chainmail.projections.chain_names import ThreeDnsNamesProjection
from chainmail.projections.delegations import DelegationsProjection
from chainmail.projections.projection import BatchedWrites
from chainmail.projections.user_statistics import COUNTERS, UserStatisticsProjection

WALLETS = ["0x" + f"{n:040x}" for n in range(1, 5)]
NODES = ["0x" + f"{n:064x}" for n in range(1, 4)]
BOX_XYZ = "0x" + b"\x03box\x03xyz\x00".hex()  # "box.xyz" in DNS wire format
PROJECTIONS = (EventLogProjection, MailsProjection, DelegationsProjection, UserStatisticsProjection)

wallet = st.sampled_from(WALLETS)
mail = st.builds(
    lambda event, sender, to, n: (
        event,
        {
            "from": sender,
            "payer": sender,
            "to": to,
            **({"subject": f"s{n}", "body": "b"} if event == "MailSent" else {"mailId": f"0x{n:064x}"}),
            "revenueShareToReceiver": False,
            "resolveSenderToName": True,
            "feePaid": True,
        },
        None,
    ),
    st.sampled_from(["MailSent", "PreparedMailSent"]),
    wallet,
    wallet,
    st.integers(0, 99),
)
delegation = st.builds(
    lambda delegator, delegate, sender: ("DelegationSet", {"delegator": delegator, "delegate": delegate}, sender),
    wallet,
    st.one_of(wallet, st.just(ZERO_ADDRESS)),
    wallet,
)
share = st.builds(
    lambda recipient, amount, recorded: (
        ("SharesRecorded", {"recipient": recipient, "recipientAmount": amount, "ownerAmount": 1}, None)
        if recorded
        else ("RecipientClaimed", {"recipient": recipient, "amount": amount}, None)
    ),
    wallet,
    st.integers(1, 2**53),
    st.booleans(),
)
name_event = st.builds(
    lambda kind, node, owner, n: (
        kind,
        {
            "RegistrationCreated": {"node": node, "fqdn": BOX_XYZ, "registrant": owner, "expiry": n},
            "RegistrationExtended": {"node": node, "newExpiry": n},
            "RegistrationTransferred": {"node": node, "newOwner": owner},
        }[kind],
        None,
    ),
    st.sampled_from(["RegistrationCreated", "RegistrationExtended", "RegistrationTransferred"]),
    st.sampled_from(NODES),
    st.one_of(wallet, st.just(ZERO_ADDRESS)),
    st.integers(1, 2**40),
)
mailer_logs = st.lists(st.one_of(mail, delegation, share), min_size=1, max_size=40)
name_logs = st.lists(name_event, min_size=1, max_size=30)
cuts = st.lists(st.integers(1, 40), max_size=6)


def records(contract: str, items: list[tuple[str, dict[str, Any], str | None]]) -> list[dict[str, Any]]:
    """The logs in chain order, three to a block."""
    out = []
    for i, (event, args, sender) in enumerate(items):
        block = 1 + i // 3
        out.append(
            LogRecord(
                chain_id=31337,
                contract=contract,
                address="0x" + "ab" * 20,
                event=event,
                abi_version=CURRENT,
                block_number=block,
                block_hash=f"0x{block:064x}",
                block_time=1_700_000_000 + block,
                tx_hash=f"0x{i:064x}",
                tx_index=0,
                log_index=i % 3,
                args=args,
                tx_from=sender,
            ).to_json()
        )
    return out


def pages(logs: list[dict[str, Any]], at: list[int]) -> list[list[dict[str, Any]]]:
    bounds = sorted({c for c in at if c < len(logs)})
    return [logs[a:b] for a, b in zip([0, *bounds], [*bounds, len(logs)], strict=True)]


def fold(engine: Engine, projection: ChainProjection, logs_in_pages: list[list[dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for page in logs_in_pages:  # each page as the runner applies it: folded, then its rows sent
            writes = BatchedWrites(conn)
            projection.fold(writes, page)  # type: ignore[arg-type]
            writes.flush()


def table_rows(engine: Engine, projection: ChainProjection) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {
            t.name: [dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in projection.tables
        }


def clear(engine: Engine, projection: ChainProjection) -> None:
    with engine.begin() as conn:
        for t in projection.tables:
            conn.execute(delete(t))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def page_and_log_folds(engine: Engine, cls: type[ChainProjection], logs: list[dict[str, Any]], at: list[int]) -> Any:
    """The rows of the read model after folding the logs in pages cut at `at`, and after one log at a time."""
    projection = cls(None)
    clear(engine, projection)
    fold(engine, projection, pages(logs, at))
    in_pages = table_rows(engine, projection)
    clear(engine, projection)
    fold(engine, projection, [[log] for log in logs])
    return in_pages, table_rows(engine, projection)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(items=mailer_logs, at=cuts)
def test_mailer_read_models_folded_in_pages_equal_a_fold_log_by_log(
    engine: Engine, items: list[Any], at: list[int]
) -> None:
    logs = records(MAILER, items)
    for cls in PROJECTIONS:
        in_pages, log_by_log = page_and_log_folds(engine, cls, logs, at)
        assert in_pages == log_by_log, cls.name

    # delegations: each delegator's row is the last log that counted by the contract's rule, in chain order
    current: dict[str, tuple[str | None, dict[str, Any]]] = {}
    effects = []
    for log in logs:
        if log["event"] != "DelegationSet":
            continue
        delegator, delegate = log["args"]["delegator"], log["args"]["delegate"]
        effect = delegation_effect(current.get(delegator, (None, {}))[0], delegator, delegate, log["tx_from"])
        effects.append(effect)
        if effect != "ignored":
            current[delegator] = (delegate if effect == "set" else None, log)
    rows = table_rows(engine, DelegationsProjection(None))
    assert [r["effect"] for r in rows["evm_delegation_history"]] == effects
    got = {
        r["delegator"]: (r["delegate"], r["is_active"], r["block_number"], r["log_index"])
        for r in rows["evm_delegations"]
    }
    assert got == {d: (to, to is not None, log["block_number"], log["log_index"]) for d, (to, log) in current.items()}

    # statistics: counters per wallet as counted log by log
    in_pages, _ = page_and_log_folds(engine, UserStatisticsProjection, logs, at)
    expected: dict[str, dict[str, int]] = {}
    for log in logs:
        a = log["args"]
        counted = []
        if log["event"] == "DelegationSet":
            if a["delegate"] != ZERO_ADDRESS:
                counted = [("delegations_given", a["delegator"]), ("delegations_received", a["delegate"])]
        elif log["event"] in ("MailSent", "PreparedMailSent"):
            prefix = "mails" if log["event"] == "MailSent" else "prepared_mails"
            counted = [(f"{prefix}_sent", a["from"]), (f"{prefix}_received", a["to"])]
        for counter, address in counted:
            expected.setdefault(address, dict.fromkeys(COUNTERS, 0))[counter] += 1
    assert {r["address"]: {c: r[c] for c in COUNTERS} for r in in_pages["user_statistics"]} == expected


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(items=name_logs, at=cuts)
def test_3dns_names_folded_in_pages_equal_a_fold_log_by_log(engine: Engine, items: list[Any], at: list[int]) -> None:
    logs = records(THREEDNS, items)
    in_pages, log_by_log = page_and_log_folds(engine, ThreeDnsNamesProjection, logs, at)
    assert in_pages == log_by_log

    # each name: the last value each event gave of its name, owner and expiry (a zero owner: none)
    state: dict[str, dict[str, Any]] = {}
    for log in logs:
        a = log["args"]
        s = state.setdefault(a["node"], {"name": None, "owner": None, "expiry": None})
        if log["event"] == "RegistrationCreated":
            s.update(name="box.xyz", owner=a["registrant"], expiry=a["expiry"])
        elif log["event"] == "RegistrationExtended":
            s["expiry"] = a["newExpiry"]
        else:
            s["owner"] = a["newOwner"]
    expected = {n: {**s, "owner": None if s["owner"] == ZERO_ADDRESS else s["owner"]} for n, s in state.items()}
    got = {r["node"]: {k: r[k] for k in ("name", "owner", "expiry")} for r in in_pages["threedns_names"]}
    assert got == expected
