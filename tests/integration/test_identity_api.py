"""Wallet identity on the indexer API, as a client sees it, on both stores: the sign-in message, nonces,
the signature headers and each way they are refused, usernames, accounts and entitlements."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import falcon.testing
import pytest

from chainmail.config import Settings
from chainmail.domain.identity.directory import OwnedName
from chainmail.domain.identity.signatures import parse_wallet
from chainmail.http.app import create_app
from chainmail.http.idx.signature import identity_of
from chainmail.identity.settings import IdentitySettings
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.identity_wallets import (
    EvmWallet,
    SolanaWallet,
    sign_in_headers,
    sign_in_message,
    signed_headers,
)
from tests.local_http import QuietHandler, serving

RC_KEY = "rc-secret-key"


class RevenueCatServer(QuietHandler):
    """Answers `GET /v1/subscribers/{id}` as RevenueCat does, and only with the right bearer key."""

    subscribers: dict[str, dict[str, Any]] = {}

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {RC_KEY}":
            self.send_json(401, {"code": 7225, "message": "Invalid API key."})
            return
        prefix = "/v1/subscribers/"
        if not self.path.startswith(prefix):
            self.send_json(404, {"code": 7259, "message": "Not found"})
            return
        user = self.path[len(prefix) :]
        subscriber = self.subscribers.get(user, {"entitlements": {}, "subscriptions": {}})
        self.send_json(
            200, {"request_date": "2026-01-01T00:00:00Z", "subscriber": {"original_app_user_id": user, **subscriber}}
        )


@pytest.fixture(scope="module")
def revenuecat() -> Iterator[str]:
    with serving(RevenueCatServer) as url:
        yield url


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str, revenuecat: str) -> Settings:
    return Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        identity=IdentitySettings(
            internal_allowed_ips=["10.0.0.10"],
            trusted_proxies=["10.0.0.1"],
            message_ttl=3600,
            revenuecat_base_url=revenuecat,
            revenuecat_api_key=RC_KEY,
            rate_limit_per_minute=30,
        ),
    )


@pytest.fixture
def system(settings: Settings, clock: Clock) -> Iterator[System]:
    system = System(settings, clock=clock)
    yield system
    system.close()


@pytest.fixture
def client(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system))


class FakeDirectory:
    """Names and delegations as the chain read models and ENS/SNS would report them."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}
        self.delegates: dict[str, str] = {}

    def owner_of(self, name: str) -> str | None:
        return self.owners.get(name)

    def names_of(self, wallet: str) -> list[OwnedName]:
        return [OwnedName(n, "ens") for n, owner in sorted(self.owners.items()) if owner == wallet]

    def delegate_of(self, wallet: str) -> str | None:
        return self.delegates.get(wallet)

    def delegators_of(self, wallet: str) -> list[str]:
        return [d for d, to in sorted(self.delegates.items()) if to == wallet]


@pytest.fixture
def directory(system: System) -> FakeDirectory:
    fake = FakeDirectory()
    identity_of(system).directory = fake
    return fake


def authenticated(client: falcon.testing.TestClient, wallet_address: str, headers: dict) -> falcon.testing.Result:
    return client.simulate_get(f"/idx/wallets/{wallet_address}/authenticated", headers=headers)


# -- the sign-in message ----------------------------------------------------------------------------


def test_the_sign_in_message_is_deterministic_until_the_nonce_changes(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    query = {"chainId": "137", "domain": "mail.example.com", "url": "https://mail.example.com/"}

    first = client.simulate_get(f"/idx/wallets/{wallet.address}/message", params=query)
    again = client.simulate_get(f"/idx/api/wallets/{wallet.canonical}/message", params=query)

    assert first.status_code == 200 and again.status_code == 200
    data = first.json["data"]
    assert first.json["success"] is True and first.json["error"] is None and first.json["timestamp"].endswith("Z")
    assert data["walletAddress"] == wallet.canonical and data["chainType"] == "evm" and data["chainId"] == 137
    assert data["message"] == again.json["data"]["message"]
    lines = data["message"].split("\n")
    assert lines[0] == "mail.example.com wants you to sign in with your Ethereum account:"
    assert lines[1] == wallet.address
    assert f"Nonce: {data['nonce']}" in lines and "Chain ID: 137" in lines
    assert lines[-1] == f"Issued At: {data['issuedAt']}"


def test_a_solana_wallet_gets_the_solana_wording(client: falcon.testing.TestClient) -> None:
    wallet = SolanaWallet()
    got = client.simulate_get(
        f"/idx/wallets/{wallet.address}/message", params={"domain": "d.example", "url": "https://d.example/"}
    )
    assert got.status_code == 200
    assert got.json["data"]["chainType"] == "solana"
    assert got.json["data"]["message"].startswith(
        f"d.example wants you to sign in with your Solana account:\n{wallet.address}"
    )


@pytest.mark.parametrize(
    ("path_wallet", "params", "code"),
    [
        ("0x1234", {"domain": "d.example", "url": "https://d.example/"}, "INVALID_WALLET_ADDRESS"),
        (None, {"url": "https://d.example/"}, "INVALID_DOMAIN"),
        (None, {"domain": "d.example\nURI: https://evil", "url": "https://d.example/"}, "INVALID_DOMAIN"),
        (None, {"domain": "d.example", "url": "https://d.example/\nNonce: 1"}, "INVALID_URL"),
        (None, {"domain": "d.example", "url": "https://d.example/", "chainId": "one"}, "INVALID_CHAIN_ID"),
    ],
)
def test_bad_message_requests_get_400(
    client: falcon.testing.TestClient, path_wallet: str | None, params: dict, code: str
) -> None:
    got = client.simulate_get(f"/idx/wallets/{path_wallet or EvmWallet().address}/message", params=params)
    assert got.status_code == 400
    assert got.json["success"] is False and got.json["code"] == code and "timestamp" in got.json


# -- the signature headers --------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["hex", "0xhex", "base64"])
def test_an_evm_signature_in_any_encoding_opens_a_signed_route(
    client: falcon.testing.TestClient, encoding: str
) -> None:
    wallet = EvmWallet()
    message = sign_in_message(client, wallet)

    got = authenticated(
        client, wallet.address, signed_headers(wallet, message, signature=wallet.sign(message, encoding))
    )  # type: ignore[arg-type]

    assert got.status_code == 200, got.text
    assert got.json["data"] == {"authenticated": False, "datetime": None}


def test_a_solana_signature_opens_a_signed_route(client: falcon.testing.TestClient) -> None:
    wallet = SolanaWallet()
    got = authenticated(client, wallet.address, sign_in_headers(client, wallet))
    assert got.status_code == 200, got.text


def refused(got: falcon.testing.Result, code: str) -> None:
    assert got.status_code == 401, got.text
    assert got.json["success"] is False and got.json["code"] == code and got.json["timestamp"]


def test_refusals_each_get_401_with_their_reason(client: falcon.testing.TestClient) -> None:
    alice, mallory = EvmWallet(), EvmWallet()
    message = sign_in_message(client, alice)
    mallory_message = sign_in_message(client, mallory)

    refused(authenticated(client, alice.address, {}), "MISSING_SIGNATURE")
    # forged: someone else's key over alice's message
    refused(
        authenticated(client, alice.address, signed_headers(alice, message, signature=mallory.sign(message))),
        "INVALID_SIGNATURE",
    )
    # a valid signature by another wallet, naming itself as the signer
    refused(
        authenticated(client, alice.address, signed_headers(mallory, mallory_message, signer=mallory.address)),
        "WRONG_SIGNER",
    )
    # alice signs the message written for mallory
    refused(authenticated(client, alice.address, signed_headers(alice, mallory_message)), "ADDRESS_MISMATCH")
    # bad encodings and garbage
    for garbage in ("0x" + "00" * 65, "zz", "A" * 88, "0x" + "ab" * 64):
        refused(
            authenticated(client, alice.address, signed_headers(alice, message, signature=garbage)), "INVALID_SIGNATURE"
        )
    refused(
        authenticated(client, alice.address, signed_headers(alice, message, signer="not-a-wallet")), "INVALID_SIGNER"
    )
    bad_utf8 = {"x-message": "%C3%28", "x-signature": alice.sign(message)}
    refused(authenticated(client, alice.address, bad_utf8), "INVALID_MESSAGE")
    refused(authenticated(client, alice.address, signed_headers(alice, "just some text")), "INVALID_MESSAGE")


def test_a_message_over_a_nonce_nobody_issued_is_refused(client: falcon.testing.TestClient) -> None:
    alice = EvmWallet()
    forged = "\n".join(
        [
            "d.example wants you to sign in with your Ethereum account:",
            alice.address,
            "",
            "URI: https://d.example",
            "Version: 1",
            "Nonce: " + "0" * 32,
            "Issued At: 2026-01-01T00:00:00.000Z",
        ]
    )
    refused(authenticated(client, alice.address, signed_headers(alice, forged)), "NONCE_REQUIRED")
    sign_in_message(client, alice)  # now a nonce exists, but not this one
    refused(authenticated(client, alice.address, signed_headers(alice, forged)), "STALE_NONCE")


def test_rotating_the_nonce_makes_earlier_signatures_stale(client: falcon.testing.TestClient) -> None:
    alice = EvmWallet()
    old = sign_in_headers(client, alice)
    assert client.simulate_get(f"/idx/users/{alice.address}/nonce", headers=old).status_code == 200

    rotated = client.simulate_post(f"/idx/users/{alice.address}/nonce", headers=old, json={})

    assert rotated.status_code == 200, rotated.text
    new_nonce = rotated.json["data"]["nonce"]
    refused(authenticated(client, alice.address, old), "STALE_NONCE")  # the replayed old message
    fresh = sign_in_headers(client, alice)
    assert (
        f"Nonce: {new_nonce}"
        in client.simulate_get(
            f"/idx/wallets/{alice.address}/message",
            params={"domain": "mail.example.com", "url": "https://mail.example.com/login"},
        ).json["data"]["message"]
    )
    got = client.simulate_get(f"/idx/api/users/{alice.address}/nonce", headers=fresh)
    assert got.status_code == 200 and got.json["data"]["nonce"] == new_nonce and got.json["data"]["createdAt"]


def test_an_expired_message_is_refused_and_a_new_one_is_issued(client: falcon.testing.TestClient, clock: Clock) -> None:
    alice = EvmWallet()
    headers = sign_in_headers(client, alice)
    clock.now += timedelta(hours=2)  # message_ttl is one hour

    refused(authenticated(client, alice.address, headers), "EXPIRED_MESSAGE")
    fresh = sign_in_headers(client, alice)
    assert fresh["x-message"] != headers["x-message"]
    assert authenticated(client, alice.address, fresh).status_code == 200


def test_a_delegate_may_read_for_its_delegator_but_not_rotate_its_nonce(
    client: falcon.testing.TestClient, directory: FakeDirectory
) -> None:
    delegator, delegate = EvmWallet(), EvmWallet()
    directory.delegates[delegator.canonical] = delegate.canonical
    headers = {**sign_in_headers(client, delegate), "x-signer": delegate.address}

    assert authenticated(client, delegator.address, headers).status_code == 200
    refused(client.simulate_post(f"/idx/users/{delegator.address}/nonce", headers=headers, json={}), "WRONG_SIGNER")


# -- usernames --------------------------------------------------------------------------------------


def test_validate_answers_for_addresses_and_names(client: falcon.testing.TestClient, directory: FakeDirectory) -> None:
    owner = EvmWallet()
    directory.owners["alice.eth"] = owner.canonical

    evm = client.simulate_get(f"/idx/users/{owner.address}/validate")
    name = client.simulate_get("/idx/users/Alice.ETH/validate")
    sns = client.simulate_get("/idx/api/users/bonfida.sol/validate")
    bad = client.simulate_get("/idx/users/not a name/validate")

    assert evm.json["data"] == {
        "walletAddress": owner.canonical,
        "chainType": "evm",
        "name": None,
        "isValid": True,
        "normalized": owner.canonical,
    }
    assert name.json["data"]["walletAddress"] == owner.canonical and name.json["data"]["name"] == "alice.eth"
    assert sns.json["data"]["chainType"] == "solana" and sns.json["data"]["walletAddress"] is None
    assert bad.status_code == 400 and bad.json == {**bad.json, "success": False, "error": "Invalid username"}


# -- accounts and entitlements ----------------------------------------------------------------------


def test_accounts_list_the_wallet_its_names_and_its_delegators(
    client: falcon.testing.TestClient, directory: FakeDirectory
) -> None:
    wallet, delegator = EvmWallet(), EvmWallet()
    directory.owners.update({"alice.eth": wallet.canonical, "family.eth": delegator.canonical})
    directory.delegates[delegator.canonical] = wallet.canonical
    RevenueCatServer.subscribers[wallet.canonical] = {
        "entitlements": {"nameservice": {"expires_date": None, "product_identifier": "ns_lifetime"}},
        "subscriptions": {},
    }

    got = client.simulate_get(f"/idx/wallets/{wallet.address}/accounts", headers=sign_in_headers(client, wallet))

    assert got.status_code == 200, got.text
    accounts = got.json["data"]["accounts"]
    assert [a["walletAddress"] for a in accounts] == [wallet.canonical, delegator.canonical]
    assert accounts[0]["email"] == f"{wallet.canonical}@example.com"
    assert accounts[0]["names"] == [
        {"name": "alice.eth", "email": "alice.eth@example.com", "service": "ens", "entitled": True}
    ]
    assert accounts[1]["names"][0]["name"] == "family.eth" and accounts[1]["names"][0]["entitled"] is False
    assert accounts[1]["delegated"] is True


def test_the_referral_header_is_recorded_once(client: falcon.testing.TestClient, system: System) -> None:
    wallet = SolanaWallet()
    headers = sign_in_headers(client, wallet)
    identity = identity_of(system)
    first, second = (identity.referral_code(parse_wallet(EvmWallet().address)).code for _ in range(2))

    for code in (first, second):
        got = client.simulate_get(f"/idx/wallets/{wallet.address}/accounts", headers={**headers, "x-referral": code})
        assert got.status_code == 200

    from chainmail.domain.identity.wallets import WalletAccount

    account = system.context(type(identity)).repository.get(WalletAccount.create_id(wallet.address))
    assert account.referral_code == first


def test_entitlements_come_from_revenuecat(client: falcon.testing.TestClient) -> None:
    active, expired, none = EvmWallet(), EvmWallet(), SolanaWallet()
    RevenueCatServer.subscribers[active.canonical] = {
        "entitlements": {"nameservice": {"expires_date": "2999-01-01T00:00:00Z", "product_identifier": "ns_year"}},
        "subscriptions": {"ns_year": {"store": "app_store"}},
    }
    RevenueCatServer.subscribers[expired.canonical] = {
        "entitlements": {"nameservice": {"expires_date": "2001-01-01T00:00:00Z", "product_identifier": "ns_year"}},
        "subscriptions": {},
    }

    def get(wallet: EvmWallet | SolanaWallet, path: str = "entitlements/") -> dict:
        got = client.simulate_get(f"/idx/wallets/{wallet.address}/{path}", headers=sign_in_headers(client, wallet))
        assert got.status_code == 200, got.text
        return got.json["data"]

    assert get(active)["entitlement"] == {
        "type": "nameservice",
        "hasEntitlement": True,
        "isActive": True,
        "productIdentifier": "ns_year",
        "expiresDate": "2999-01-01T00:00:00Z",
        "store": "app_store",
    }
    assert get(expired, "entitlements")["entitlement"]["isActive"] is False
    data = get(none)
    assert data["entitlement"]["hasEntitlement"] is False and data["verified"] is True and data["chainType"] == "solana"


def test_a_wrong_revenuecat_key_is_a_503_not_a_500(settings: Settings, clock: Clock) -> None:
    settings.identity.revenuecat_api_key = "wrong-key"
    system = System(settings, clock=clock)
    try:
        client = falcon.testing.TestClient(create_app(system))
        wallet = EvmWallet()
        got = client.simulate_get(
            f"/idx/wallets/{wallet.address}/entitlements", headers=sign_in_headers(client, wallet)
        )
        assert got.status_code == 503 and got.json["code"] == "ENTITLEMENT_UNAVAILABLE", got.text
    finally:
        system.close()


# -- internal routes --------------------------------------------------------------------------------

WILDDUCK = "10.0.0.10"


def test_authenticate_accepts_a_signed_login_from_an_allowed_peer(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    message = sign_in_message(client, wallet)
    body = {
        "username": wallet.canonical,
        "message": message,
        "signature": wallet.sign(message),
        "signer": wallet.address,
    }

    got = client.simulate_post("/idx/authenticate", json=body, remote_addr=WILDDUCK)

    assert got.status_code == 200, got.text
    assert got.json["success"] is True and got.json["data"]["walletAddress"] == wallet.canonical
    status = authenticated(client, wallet.address, signed_headers(wallet, message))
    assert status.json["data"]["authenticated"] is True and status.json["data"]["datetime"]


def test_authenticate_takes_the_signature_in_password_and_a_name_its_signer_owns(
    client: falcon.testing.TestClient, directory: FakeDirectory
) -> None:
    wallet, stranger = SolanaWallet(), SolanaWallet()
    directory.owners["alice.sol"] = wallet.canonical
    message = sign_in_message(client, wallet)
    body = {"username": "alice.sol", "message": message, "password": wallet.sign(message), "signer": wallet.address}

    assert client.simulate_post("/idx/authenticate", json=body, remote_addr=WILDDUCK).status_code == 200
    stranger_message = sign_in_message(client, stranger)
    theirs = {
        **body,
        "message": stranger_message,
        "password": stranger.sign(stranger_message),
        "signer": stranger.address,
    }
    refused(client.simulate_post("/idx/authenticate", json=theirs, remote_addr=WILDDUCK), "WRONG_SIGNER")
    unknown = {**body, "username": "nobody.sol"}
    refused(client.simulate_post("/idx/authenticate", json=unknown, remote_addr=WILDDUCK), "NAME_NOT_OWNED")


def test_authenticate_refusals(client: falcon.testing.TestClient) -> None:
    wallet, other = EvmWallet(), EvmWallet()
    message = sign_in_message(client, wallet)
    good = {"username": wallet.canonical, "message": message, "signature": wallet.sign(message)}

    forged = client.simulate_post(
        "/idx/authenticate", json={**good, "signature": other.sign(message)}, remote_addr=WILDDUCK
    )
    refused(forged, "INVALID_SIGNATURE")
    missing = client.simulate_post("/idx/authenticate", json={"username": wallet.canonical}, remote_addr=WILDDUCK)
    assert missing.status_code == 400 and missing.json["success"] is False
    typed = client.simulate_post("/idx/authenticate", json={**good, "message": 42}, remote_addr=WILDDUCK)
    assert typed.status_code == 400
    refused(
        client.simulate_post("/idx/authenticate", json={**good, "username": "x y"}, remote_addr=WILDDUCK),
        "INVALID_USERNAME",
    )
    garbage = client.simulate_post(
        "/idx/authenticate", body="{not json", headers={"Content-Type": "application/json"}, remote_addr=WILDDUCK
    )
    assert garbage.status_code == 400 and garbage.json["success"] is False


def test_internal_routes_refuse_other_peers_and_untrusted_forwarding(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    message = sign_in_message(client, wallet)
    body = {"username": wallet.canonical, "message": message, "signature": wallet.sign(message)}

    def post(remote: str, forwarded: str | None = None) -> falcon.testing.Result:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        return client.simulate_post("/idx/authenticate", json=body, remote_addr=remote, headers=headers)

    outsider = post("203.0.113.9")
    assert (
        outsider.status_code == 403 and outsider.json["code"] == "IP_NOT_ALLOWED" and outsider.json["success"] is False
    )
    assert post("203.0.113.9", forwarded=WILDDUCK).status_code == 403  # only a trusted proxy may forward
    assert post("10.0.0.1", forwarded=WILDDUCK).status_code == 200  # Traefik forwarding for WildDuck
    assert post("10.0.0.1", forwarded=f"{WILDDUCK}, 203.0.113.9").status_code == 403  # the nearest hop counts
    assert post("10.0.0.1", forwarded="garbage").status_code == 403
    verify = client.simulate_post(f"/idx/api/addresses/{wallet.address}/verify", json={}, remote_addr="203.0.113.9")
    assert verify.status_code == 403


def test_verify_says_whether_the_address_signed(client: falcon.testing.TestClient) -> None:
    indexer, other = EvmWallet(), EvmWallet()
    text = "deliver mail to 0xabc, tx 0x123, at 2026-01-01T00:00:00Z\nline two"

    def verify(headers: dict | None = None, body: dict | None = None) -> falcon.testing.Result:
        return client.simulate_post(
            f"/idx/api/addresses/{indexer.address}/verify", headers=headers or {}, json=body or {}, remote_addr=WILDDUCK
        )

    good = verify({"x-message": quote(text, safe=""), "x-signature": indexer.sign(text, "base64")})
    assert good.status_code == 200 and good.json["success"] is True and good.json["data"]["success"] is True
    legacy = verify(body={"walletAddress": indexer.address, "message": text, "signature": indexer.sign(text)})
    assert legacy.status_code == 200 and legacy.json["success"] is True
    forged = verify({"x-message": quote(text, safe=""), "x-signature": other.sign(text)})
    assert forged.status_code == 401 and forged.json["success"] is False
    assert verify(body={"message": text}).status_code == 400
    bad = client.simulate_post("/idx/addresses/nope/verify", json={}, remote_addr=WILDDUCK)
    assert bad.status_code == 400


def test_sign_in_attempts_are_rate_limited(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    message = sign_in_message(client, wallet)
    body = {"username": wallet.canonical, "message": message, "signature": EvmWallet().sign(message)}
    statuses = [
        client.simulate_post("/idx/authenticate", json=body, remote_addr=WILDDUCK).status_code for _ in range(31)
    ]
    assert statuses[:30] == [401] * 30
    assert statuses[30] == 429
    limited = client.simulate_post("/idx/authenticate", json=body, remote_addr=WILDDUCK)
    assert limited.json["success"] is False and limited.json["code"] == "RATE_LIMITED"


def test_only_listed_domains_may_ask_for_and_use_sign_in_messages(
    client: falcon.testing.TestClient, system: System
) -> None:
    wallet = EvmWallet()
    headers = sign_in_headers(client, wallet)  # written for mail.example.com
    identity_of(system).signin_domains = frozenset({"0xmail.box"})

    refused(authenticated(client, wallet.address, headers), "DOMAIN_NOT_ALLOWED")
    other = client.simulate_get(
        f"/idx/wallets/{wallet.address}/message", params={"domain": "phish.example", "url": "https://phish.example/"}
    )
    assert other.status_code == 400 and other.json["code"] == "DOMAIN_NOT_ALLOWED"
    listed = client.simulate_get(
        f"/idx/wallets/{wallet.address}/message", params={"domain": "0xMail.box", "url": "https://0xmail.box/"}
    )
    assert listed.status_code == 200
    message = listed.json["data"]["message"]
    assert authenticated(client, wallet.address, signed_headers(wallet, message)).status_code == 200
