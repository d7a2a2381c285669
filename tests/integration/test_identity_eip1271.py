"""EIP-1271 contract wallets on a real anvil node, on both stores: a contract wallet signs in through
the signature headers and `/authenticate` when its owner's key signed (the contract says so), and is
refused when another key did, when the address has no code, or when no RPC is configured."""

from __future__ import annotations

from collections.abc import Iterator

import falcon.testing
import pytest
from eth_account.messages import encode_defunct

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.identity.eip1271 import ContractSignatures
from chainmail.identity.settings import IdentitySettings
from chainmail.system import System
from tests.chain.anvil import Anvil
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.identity_wallets import EvmWallet, sign_in_message, signed_headers

MAIL_SERVER = "10.0.0.10"


class ContractWallet(EvmWallet):
    """A wallet contract whose owner (an anvil development key) signs for it."""

    def __init__(self, address: str, owner: object) -> None:
        super().__init__(account=owner)
        self._address = address

    @property
    def address(self) -> str:
        return self._address

    @property
    def canonical(self) -> str:
        return self._address.lower()


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    node = Anvil(31337)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def wallet(anvil: Anvil) -> ContractWallet:
    deployed = anvil.deploy("ContractWallet", sender=1)
    return ContractWallet(deployed.contract.address, anvil.keys[1])


@pytest.fixture
def settings(database_url: str, anvil: Anvil) -> Settings:
    return Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        identity=IdentitySettings(internal_allowed_ips=[MAIL_SERVER], eip1271_rpc_url=anvil.url),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[falcon.testing.TestClient]:
    system = System(settings)
    yield falcon.testing.TestClient(create_app(system))
    system.close()


def test_a_contract_wallet_signs_in_with_its_owners_signature(
    client: falcon.testing.TestClient, wallet: ContractWallet
) -> None:
    message = sign_in_message(client, wallet)

    got = client.simulate_get(f"/idx/wallets/{wallet.address}/points", headers=signed_headers(wallet, message))
    login = client.simulate_post(
        "/idx/authenticate",
        json={"username": wallet.address, "message": message, "signature": wallet.sign(message, "base64")},
        remote_addr=MAIL_SERVER,
    )

    assert got.status_code == 200, got.text
    assert got.json["data"]["walletAddress"] == wallet.canonical
    assert login.status_code == 200, login.text
    assert login.json["data"]["walletAddress"] == wallet.canonical


def test_a_contract_wallet_is_refused_what_its_owner_did_not_sign(
    client: falcon.testing.TestClient, wallet: ContractWallet, anvil: Anvil
) -> None:
    message = sign_in_message(client, wallet)
    stranger = anvil.keys[2].sign_message(encode_defunct(text=message))
    path = f"/idx/wallets/{wallet.address}/points"

    for signature in ("0x" + bytes(stranger.signature).hex(), "0x" + "ab" * 100, "0x", "not-a-signature"):
        got = client.simulate_get(path, headers=signed_headers(wallet, message, signature=signature))
        assert got.status_code == 401, (signature, got.text)
        assert got.json["code"] in ("INVALID_SIGNATURE", "MISSING_SIGNATURE")


def test_without_code_or_without_an_rpc_there_is_no_contract_signature(anvil: Anvil, wallet: ContractWallet) -> None:
    message = "hello"
    signature = wallet.sign(message)
    checker = ContractSignatures(anvil.url)

    assert checker.is_valid(wallet.address, message, signature) is True
    assert checker.is_valid(wallet.address, message + "!", signature) is False
    assert checker.is_valid(EvmWallet().address, message, signature) is False  # no code there
    assert ContractSignatures("http://127.0.0.1:9", timeout=0.5).is_valid(wallet.address, message, signature) is False


def test_contract_wallets_are_refused_when_no_rpc_is_configured(database_url: str, wallet: ContractWallet) -> None:
    system = System(Settings(database_url=database_url, email_domain="example.com"))
    try:
        client = falcon.testing.TestClient(create_app(system))
        message = sign_in_message(client, wallet)
        got = client.simulate_get(f"/idx/wallets/{wallet.address}/points", headers=signed_headers(wallet, message))
        assert got.status_code == 401 and got.json["code"] == "INVALID_SIGNATURE"
    finally:
        system.close()
