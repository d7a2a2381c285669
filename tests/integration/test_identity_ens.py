"""ENS names through web3's ENS module against a real anvil node, on both stores: a resolver with forward
and reverse records is deployed, and a universal resolver that forwards to it is placed where web3 looks
for mainnet's (anvil_setCode). A name then signs in as the wallet it points to, and shows among that
wallet's accounts; other wallets, unset names and an unreachable node resolve to nothing."""

from __future__ import annotations

from collections.abc import Iterator

import falcon.testing
import pytest
from ens.constants import UNIVERSAL_RESOLVER_ADDR
from ens.utils import address_to_reverse_domain, raw_name_to_hash

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.identity.ens import EnsResolver
from chainmail.identity.settings import IdentitySettings
from chainmail.system import System
from tests.chain.anvil import Anvil
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.identity_wallets import EvmWallet, sign_in_headers, sign_in_message

MAIL_SERVER = "10.0.0.10"
ALICE = EvmWallet()


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    node = Anvil(31337)
    resolver = node.deploy("TestResolver")
    universal = node.deploy("TestUniversalResolver")
    node.rpc("anvil_setCode", UNIVERSAL_RESOLVER_ADDR, node.rpc("eth_getCode", universal.address, "latest"))
    placed = node.w3.eth.contract(address=UNIVERSAL_RESOLVER_ADDR, abi=universal.contract.abi)
    node.send(placed.functions.setTarget(resolver.contract.address))
    node.send(resolver.contract.functions.setAddr(raw_name_to_hash("alice.eth"), ALICE.address))
    reverse = raw_name_to_hash(address_to_reverse_domain(ALICE.address))
    node.send(resolver.contract.functions.setName(reverse, "alice.eth"))
    yield node
    node.stop()


@pytest.fixture
def client(database_url: str, anvil: Anvil) -> Iterator[falcon.testing.TestClient]:
    settings = Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        identity=IdentitySettings(internal_allowed_ips=[MAIL_SERVER], ens_rpc_url=anvil.url),
    )
    system = System(settings)
    yield falcon.testing.TestClient(create_app(system))
    system.close()


def test_the_resolver_reads_forward_and_reverse_records(anvil: Anvil) -> None:
    ens = EnsResolver(anvil.url)

    assert ens.owner_of("alice.eth") == ALICE.canonical
    assert ens.owner_of("nobody.eth") is None
    assert [n.name for n in ens.names_of(ALICE.canonical)] == ["alice.eth"]
    assert ens.names_of(EvmWallet().canonical) == []
    assert EnsResolver("http://127.0.0.1:9", timeout=0.5).owner_of("alice.eth") is None


def test_a_name_signs_in_as_the_wallet_it_points_to(client: falcon.testing.TestClient) -> None:
    def authenticate(signer: EvmWallet) -> falcon.testing.Result:
        message = sign_in_message(client, signer)
        body = {"username": "alice.eth", "message": message, "signature": signer.sign(message)}
        return client.simulate_post(
            "/idx/authenticate", json={**body, "signer": signer.address}, remote_addr=MAIL_SERVER
        )

    ok, refused = authenticate(ALICE), authenticate(EvmWallet())

    assert ok.status_code == 200, ok.text
    assert ok.json["data"]["walletAddress"] == ALICE.canonical and ok.json["data"]["username"] == "alice.eth"
    assert refused.status_code == 401


def test_the_wallets_accounts_list_its_ens_name(client: falcon.testing.TestClient) -> None:
    got = client.simulate_get(f"/idx/wallets/{ALICE.address}/accounts", headers=sign_in_headers(client, ALICE))

    assert got.status_code == 200, got.text
    names = got.json["data"]["accounts"][0]["names"]
    assert [(n["name"], n["service"], n["email"]) for n in names] == [("alice.eth", "ens", "alice.eth@example.com")]
