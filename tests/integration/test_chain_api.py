"""`/idx/blocks` and the delegation routes over chains indexed from real anvil nodes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import falcon.testing
import pytest

from chainmail.config import ChainSettings, Settings
from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.chains import ChainSpec, chain_specs
from chainmail.http.app import create_app
from chainmail.indexer.ingest import ChainIndexer
from chainmail.system import System
from tests.chain.anvil import Anvil
from tests.chain.harness import index, spec_for
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.identity_wallets import EvmWallet, sign_in_headers


@pytest.fixture
def two_chains() -> Iterator[tuple[Anvil, Anvil]]:
    first, second = Anvil(31337), Anvil(1337)
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def chain_system(database_url: str, two_chains: tuple[Anvil, Anvil]) -> Iterator[System]:
    first, second = two_chains
    chains = {
        31337: ChainSettings(rpc_url=first.url, confirmations=64),
        1337: ChainSettings(rpc_url=second.url + "/v2/abcdef0123456789abcdef", confirmations=64),
    }
    settings = Settings(
        database_url=database_url, api_access_token=ROOT_TOKEN, email_domain="example.com", chains=chains
    )
    system = System(settings)
    yield system
    system.close()


def test_two_chains_indexed_at_once_report_their_status_in_blocks(
    chain_system: System, two_chains: tuple[Anvil, Anvil]
) -> None:
    first, second = two_chains
    specs = []
    for node in (first, second):
        mailer = node.deploy("MailerEvents")
        node.send(mailer.contract.functions.delegateTo(node.accounts[2]), 1)
        node.mine(3)
        specs.append(spec_for(node, [mailer.address]))
    # both chains indexed at the same time, each by its own worker thread, into one store
    errors: list[BaseException] = []

    def run(spec: ChainSpec) -> None:
        try:
            index(chain_system, spec)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(spec,)) for spec in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    first.mine(20)  # the first chain moves on; the index has not followed yet

    client = falcon.testing.TestClient(create_app(chain_system))
    got = client.simulate_get("/idx/blocks")

    assert got.status_code == 200, got.text
    body = got.json
    assert body["success"] is True and body["timestamp"]
    data = body["data"]
    by_id = {c["chainId"]: c for c in data["chains"]}
    assert set(by_id) == {1337, 31337}
    assert by_id[1337]["status"] == "synced" and by_id[1337]["blocksBehind"] == "0"
    assert by_id[1337]["currentBlock"] == by_id[1337]["indexedBlock"] == str(second.head())
    assert by_id[1337]["percentage"] == "100.00"
    # the pace the indexer reported on its last save: blocks and events a second, and no time left
    assert float(by_id[1337]["blocksPerSecond"]) > 0 and float(by_id[1337]["eventsPerSecond"]) > 0
    assert by_id[1337]["etaSeconds"] == "0.0"
    assert "abcdef0123456789abcdef" not in by_id[1337]["rpcUrl"]  # keys in RPC URLs are never shown
    assert by_id[31337]["indexedBlock"] == str(first.head() - 20)
    assert data["totalChains"] == 2
    assert data["summary"] == {"syncedCount": 2, "syncingCount": 0, "errorCount": 0}
    assert data["overallHealth"] == "healthy"
    assert client.simulate_get("/idx/api/blocks").json["data"]["totalChains"] == 2

    # After the next look at the node, the lagging chain shows as syncing.
    spec = spec_for(first, [])
    indexer = ChainIndexer(chain_system.context(Chain), chain_system.engine, spec)
    indexer.head = first.head()
    indexer._status()
    lagging = {c["chainId"]: c for c in client.simulate_get("/idx/blocks").json["data"]["chains"]}[31337]
    assert lagging["status"] == "syncing" and lagging["blocksBehind"] == "20"
    # (both shown to a tenth: a fast chain's few tenths of a second differ by the rounding)
    assert float(lagging["etaSeconds"]) == pytest.approx(20 / float(lagging["blocksPerSecond"]), rel=0.05, abs=0.06)


def test_delegation_routes_answer_the_signed_wallet_and_refuse_unsigned_requests(
    chain_system: System, two_chains: tuple[Anvil, Anvil]
) -> None:
    node = two_chains[0]
    mailer = node.deploy("MailerEvents")
    delegator, delegate = EvmWallet(account=node.keys[1]), EvmWallet(account=node.keys[2])
    receipt = node.send(mailer.contract.functions.delegateTo(node.accounts[2]), 1)
    index(chain_system, spec_for(node, [mailer.address]))
    client = falcon.testing.TestClient(create_app(chain_system))

    unsigned = client.simulate_get(f"/idx/delegations/from/{delegator.address}")
    assert unsigned.status_code == 401
    assert unsigned.json["success"] is False and unsigned.json["code"]

    got = client.simulate_get(f"/idx/delegations/from/{delegator.address}", headers=sign_in_headers(client, delegator))
    assert got.status_code == 200, got.text
    assert got.json["data"] == {
        "walletAddress": delegate.canonical,
        "chainType": "evm",
        "chainId": 31337,
        "txHash": "0x" + bytes(receipt["transactionHash"]).hex().removeprefix("0x"),
    }

    to = client.simulate_get(f"/idx/delegations/to/{delegate.address}", headers=sign_in_headers(client, delegate))
    assert to.status_code == 200, to.text
    assert [d["walletAddress"] for d in to.json["data"]["from"]] == [delegator.canonical]

    nobody = EvmWallet()
    none = client.simulate_get(f"/idx/api/delegations/from/{nobody.address}", headers=sign_in_headers(client, nobody))
    assert none.status_code == 200 and none.json["data"] is None

    bad = client.simulate_get("/idx/delegations/to/not-a-wallet")
    assert bad.status_code == 400 and bad.json["success"] is False


def test_a_chain_whose_node_is_down_shows_as_an_error_and_the_health_as_degraded(
    chain_system: System, two_chains: tuple[Anvil, Anvil]
) -> None:
    second = two_chains[1]
    second.stop()  # chain 1337's node goes away
    settings = chain_system.settings
    (spec,) = [s for s in chain_specs(settings.chains, enable_testnets=False) if s.chain_id == 1337]
    assert "abcdef0123456789abcdef" in (spec.rpc_url or "")  # the configured URL carries a key
    worker = ChainIndexer(chain_system.context(Chain), chain_system.engine, spec)
    attempts = []

    def stop() -> bool:
        attempts.append(1)
        return len(attempts) > 3

    worker.run(stop)  # keeps retrying, recording the error, until stopped

    chains = falcon.testing.TestClient(create_app(chain_system)).simulate_get("/idx/blocks").json["data"]
    down = {c["chainId"]: c for c in chains["chains"]}[1337]
    assert down["status"] == "error" and "abcdef0123456789abcdef" not in down["error"]
    assert chains["overallHealth"] == "degraded" and chains["summary"]["errorCount"] == 1
