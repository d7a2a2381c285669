"""No poison events: numbers are typed and range-checked at the edge, so whatever is accepted and stored can be
folded by every read model on both stores; whatever could not be is a 400 that records nothing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair
from sqlalchemy import func, select

from chainmail.domain.bounds import MAX_INDEX_IN_BLOCK, MAX_SLOT, MAX_UNIX_TIME, SAFE_INTEGER_MAX
from chainmail.domain.chain.application import Chain
from chainmail.http.app import create_app
from chainmail.projections.chain_logs import evm_event_log
from chainmail.projections.chain_mails import evm_mails, mails_of
from chainmail.store.events import max_notification_id
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.test_solana_webhooks import AUTH, MAINNET, _mail, _settings

HUGE = [2**63, 10**30, -(2**63) - 1, 2**64]


@pytest.fixture
def system(database_url: str) -> Iterator[System]:
    system = System(_settings(database_url, dev_mode=True))
    yield system
    system.close()


@pytest.fixture
def client(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": ROOT_TOKEN})


def _deliver(client: falcon.testing.TestClient, body: Any) -> falcon.testing.Result:
    return client.simulate_post("/idx/solana/webhook", json=body, headers=AUTH)


def _count(system: System, table: Any) -> int:
    with system.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _position(system: System) -> int:
    with system.engine.connect() as conn:
        return max_notification_id(conn, Chain.name)


def _poisoned() -> dict[str, list[dict[str, Any]]]:
    raw = _mail(Keypair(), "Send", slot=70).raw()
    enhanced = _mail(Keypair(), "Send", slot=70).enhanced()
    cases: dict[str, list[dict[str, Any]]] = {}
    for field, values in {
        "slot": [*HUGE, MAX_SLOT + 1, "70", 70.0, 70.5, True, None],
        "blockTime": [*HUGE, MAX_UNIX_TIME + 1, "1700000000", 1.7e9, -1],
        "indexWithinBlock": [*HUGE, MAX_INDEX_IN_BLOCK + 1, "3"],
    }.items():
        for value in values:
            cases[f"raw {field}={value!r}"] = [{**copy.deepcopy(raw), field: value}]
    for field, values in {"slot": [*HUGE, "70"], "timestamp": [*HUGE, "1700000000"]}.items():
        for value in values:
            cases[f"enhanced {field}={value!r}"] = [{**copy.deepcopy(enhanced), field: value}]
    return cases


def test_numbers_out_of_range_or_of_the_wrong_type_are_a_400_and_store_nothing(
    system: System, client: falcon.testing.TestClient
) -> None:
    before = _position(system)
    for case, body in _poisoned().items():
        got = _deliver(client, body)

        assert got.status_code == 400, (case, got.text)
        assert got.json["code"] == "INVALID_PAYLOAD" and got.json["success"] is False, case
    assert _position(system) == before
    assert _count(system, evm_event_log) == 0

    after = _deliver(client, [_mail(Keypair(), "Send", slot=71).raw()])  # the read models still move
    assert after.status_code == 200, after.text
    assert _count(system, evm_mails) == 1


@pytest.mark.parametrize("body", [{"slot": 2**63}, {"slot": 10**30}, {"slot": "1e30"}, {"chainId": 2**63}])
def test_a_test_transaction_with_a_number_out_of_range_is_a_400(
    system: System, client: falcon.testing.TestClient, body: dict[str, Any]
) -> None:
    got = client.simulate_post("/idx/solana/test-transaction", json={"eventType": "mail_sent", **body})

    assert got.status_code == 400, got.text
    assert got.json["success"] is False
    assert _count(system, evm_event_log) == 0


def test_a_chain_read_model_that_cannot_fold_stops_alone_and_the_deliveries_go_on(
    system: System, client: falcon.testing.TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_log = system.projections.projections["evm_event_log"]

    def bug(tx: Any, event: Any) -> None:
        raise RuntimeError("a bug in the event log's fold")

    monkeypatch.setattr(event_log, "apply", bug)
    for slot in (71, 72):
        got = _deliver(client, [_mail(Keypair(), "Send", slot=slot).raw()])
        assert got.status_code == 200, got.text  # recorded and answered

    assert _count(system, evm_mails) == 2  # the other chain read models keep moving
    assert _count(system, evm_event_log) == 0  # this one stopped at the first delivery, loudly
    assert "a bug in the event log's fold" in system.projections.failures()["evm_event_log"]
    assert client.simulate_get("/idx/blocks").json["data"]["overallHealth"] == "degraded"

    monkeypatch.undo()  # the fix is deployed: `chainmail project` folds what it missed, and it rejoins
    system.projections.catch_up_all()
    assert _count(system, evm_event_log) == 2 and system.projections.failures() == {}
    assert _deliver(client, [_mail(Keypair(), "Send", slot=73).raw()]).status_code == 200
    assert _count(system, evm_event_log) == 3


slots = st.integers(0, MAX_SLOT)
block_times = st.none() | st.integers(0, MAX_UNIX_TIME)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    deliveries=st.lists(
        st.tuples(slots, block_times, st.sampled_from(["Send", "SendToEmail", "SendPrepared"]), st.booleans()),
        min_size=1,
        max_size=4,
    )
)
def test_every_accepted_helius_delivery_is_folded_into_the_read_models(
    system: System, client: falcon.testing.TestClient, deliveries: list[tuple[int, int | None, str, bool]]
) -> None:
    sent = {}
    for slot, block_time, instruction, enhanced in deliveries:
        tx = _mail(Keypair(), instruction, slot=slot)
        item = tx.enhanced() if enhanced else tx.raw()
        item["timestamp" if enhanced else "blockTime"] = block_time
        got = _deliver(client, [item])
        assert got.status_code == 200, got.text
        sent[tx.signature] = slot

    with system.engine.connect() as conn:
        folded = {row["tx_hash"]: row["block_number"] for row in mails_of(conn, chain_id=MAINNET)}
    assert {signature: folded.get(signature) for signature in sent} == sent


quota_fields = st.sampled_from(["quota", "recipients", "forwards", "filters", "imapMaxUpload", "receivedMax"])


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    numbers=st.dictionaries(
        quota_fields,
        st.integers(0, SAFE_INTEGER_MAX) | st.integers(SAFE_INTEGER_MAX + 1, 10**40) | st.floats(0, 1e300),
        max_size=3,
    )
)
def test_every_accepted_user_number_is_folded_and_read_back(
    client: falcon.testing.TestClient, numbers: dict[str, Any]
) -> None:
    name = f"n{abs(hash(tuple(sorted(numbers.items())))) % 10**12}"
    made = client.simulate_post("/api/users", json={"username": name, "password": "secretvalue", **numbers})

    if any(abs(value) > SAFE_INTEGER_MAX for value in numbers.values()):
        assert made.status_code == 400, made.text
        assert made.json["code"] == "InputValidationError"
        assert "must be a safe number" in made.json["error"]
        return
    assert made.status_code in (200, 400), made.text  # 400: the same name twice in one run
    if made.status_code == 200:
        user = client.simulate_get(f"/api/users/{made.json['id']}")
        assert user.status_code == 200, user.text
        if numbers.get("quota"):  # 0 stands for the default quota
            assert user.json["limits"]["quota"]["allowed"] == int(numbers["quota"])
