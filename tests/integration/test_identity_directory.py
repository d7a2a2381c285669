"""The identity context's directory over the chain read models (3DNS names, delegations) and a cached
ENS/SNS resolver, as the accounts route and the login check see it."""

from __future__ import annotations

import time

import falcon.testing
from sqlalchemy import insert

from chainmail.http.idx.signature import identity_of
from chainmail.identity.directory import ReadModelDirectory
from chainmail.identity.names import CachedResolver, StaticResolver
from chainmail.identity.wiring import wire
from chainmail.projections.chain_names import threedns_names
from chainmail.projections.delegations import evm_delegations
from chainmail.store.database import writer
from chainmail.system import System
from tests.integration.identity_wallets import EvmWallet, sign_in_headers


def delegation(
    system: System, delegator: str, delegate: str | None, *, active: bool = True, chain_id: int = 10
) -> None:
    with writer(system.engine).begin() as tx:
        tx.execute(
            insert(evm_delegations).values(
                chain_id=chain_id, delegator=delegator, delegate=delegate, is_active=active, address="0x" + "1" * 40,
                block_number=1, log_index=0, block_time=1, tx_hash="0x" + "2" * 64,
            )
        )  # fmt: skip


def threedns(system: System, name: str, owner: str, expiry: int | None, node: str) -> None:
    with writer(system.engine).begin() as tx:
        tx.execute(
            insert(threedns_names).values(
                chain_id=10, node=node, name=name, owner=owner, expiry=expiry, block_number=1, log_index=0
            )
        )


def test_names_and_delegations_come_from_the_chain_read_models(system: System) -> None:
    owner, delegate, stranger = EvmWallet().canonical, EvmWallet().canonical, EvmWallet().canonical
    threedns(system, "mine.box", owner, int(time.time()) + 3600, "0x" + "a" * 64)
    threedns(system, "lapsed.box", owner, int(time.time()) - 3600, "0x" + "b" * 64)
    delegation(system, owner, delegate)
    delegation(system, stranger, delegate, active=False)
    directory = ReadModelDirectory(system.engine, StaticResolver({"mine.eth": owner}))

    assert directory.owner_of("MINE.box") == owner
    assert directory.owner_of("lapsed.box") is None
    assert directory.owner_of("mine.eth") == owner
    assert [(n.name, n.service) for n in directory.names_of(owner)] == [("mine.box", "3dns"), ("mine.eth", "ens")]
    assert directory.delegate_of(owner) == delegate and directory.delegate_of(stranger) is None
    assert directory.delegators_of(delegate) == [owner]


def test_the_resolver_cache_answers_repeated_questions_itself() -> None:
    now = [0.0]
    inner = StaticResolver({"a.sol": "So1ana"})
    cached = CachedResolver(inner, ttl=300, clock=lambda: now[0])

    assert cached.owner_of("a.sol") == "So1ana" and cached.owner_of("A.SOL") == "So1ana"
    assert inner.calls == 1
    now[0] = 301
    cached.owner_of("a.sol")
    assert inner.calls == 2


def test_accounts_through_the_wired_directory(client: falcon.testing.TestClient, system: System) -> None:
    wallet, delegator = EvmWallet(), EvmWallet()
    delegation(system, delegator.canonical, wallet.canonical)
    threedns(system, "home.box", wallet.canonical, None, "0x" + "c" * 64)
    adapters = wire(system, identity_of(system))
    adapters.directory.resolver = StaticResolver({"work.eth": wallet.canonical})

    got = client.simulate_get(f"/idx/wallets/{wallet.address}/accounts", headers=sign_in_headers(client, wallet))

    assert got.status_code == 200, got.text
    accounts = got.json["data"]["accounts"]
    assert [a["walletAddress"] for a in accounts] == [wallet.canonical, delegator.canonical]
    assert [n["name"] for n in accounts[0]["names"]] == ["home.box", "work.eth"]
    assert all(n["entitled"] is False for n in accounts[0]["names"])  # RevenueCat is not configured here
    # the delegate may read for its delegator
    as_delegate = {**sign_in_headers(client, wallet), "x-signer": wallet.address}
    assert (
        client.simulate_get(f"/idx/wallets/{delegator.address}/authenticated", headers=as_delegate).status_code == 200
    )
