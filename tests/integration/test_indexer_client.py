"""The indexer's own TypeScript client (`@sudobility/indexer_client`, `src/network/IndexerClient.ts`): each of its
24 methods, called with the paths, bodies and headers it sends, answers the fields its types declare
(`@sudobility/types` indexer-responses), over chains indexed from a real anvil node, on both stores."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import falcon.testing
import pytest
from eth_utils import keccak

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.identity.settings import IdentitySettings
from chainmail.system import System
from tests.chain.anvil import Anvil
from tests.chain.harness import index, spec_for
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.identity_wallets import EvmWallet

WILDDUCK = "10.0.0.10"
UUID_LIKE = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def encode_uri_component(text: str) -> str:
    """JavaScript's encodeURIComponent, which the client applies to `x-message`."""
    return quote(text, safe="-_.!~*'()")


@dataclass
class Auth:
    """The client's IndexerUserAuth."""

    signature: str
    message: str
    signer: str


class IndexerClient:
    """IndexerClient.ts, request for request: the same paths, bodies and headers (over Falcon's test client).
    Like the original, a method whose answer is not 2xx fails; `raw` returns any answer."""

    def __init__(self, http: falcon.testing.TestClient, dev: bool = False) -> None:
        self.http, self.dev, self.base = http, dev, "/idx"

    def headers(self, auth: Auth | None = None, **extra: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.dev:
            headers["x-dev"] = "true"
        if auth is not None:
            headers["x-signature"] = auth.signature.replace("\r", "").replace("\n", "")
            headers["x-message"] = encode_uri_component(auth.message)
            headers["x-signer"] = auth.signer
        headers.update(extra)
        return headers

    def raw(self, method: str, path: str, *, auth: Auth | None = None, body: Any = None, **extra: str) -> Any:
        return self.http.simulate_request(
            method, self.base + path, headers=self.headers(auth, **extra), json=body if body is not None else None
        )

    def call(self, method: str, path: str, *, auth: Auth | None = None, body: Any = None, **extra: str) -> Any:
        got = self.raw(method, path, auth=auth, body=body, **extra)
        assert 200 <= got.status_code < 300, f"{method} {path}: {got.status_code} {got.text}"
        answer = got.json
        assert answer["success"] is True and answer["error"] is None and answer["timestamp"], answer
        return answer["data"]

    # -- public ---------------------------------------------------------------------------------------
    def validate_username(self, username: str) -> Any:
        return self.call("GET", f"/users/{encode_uri_component(username)}/validate")

    def get_message(self, chain_id: int, wallet: str, domain: str, url: str) -> Any:
        query = urlencode({"chainId": str(chain_id), "domain": domain, "url": url})
        return self.call("GET", f"/wallets/{encode_uri_component(wallet)}/message?{query}")

    def get_points_leaderboard(self, count: int = 10) -> Any:
        return self.call("GET", f"/points/leaderboard/{count}")

    def get_points_site_stats(self) -> Any:
        return self.call("GET", "/points/site-stats")

    def get_referral_stats(self, code: str) -> Any:
        return self.call("POST", f"/referrals/{encode_uri_component(code)}/stats", body={})

    def resolve_name_to_address(self, name: str) -> Any:
        return self.call("GET", f"/wallets/named/{encode_uri_component(name)}")

    # -- signed ---------------------------------------------------------------------------------------
    def get_wallet_accounts(self, wallet: str, auth: Auth, referral_code: str | None = None) -> Any:
        extra = {"x-referral": referral_code} if referral_code else {}
        return self.call("GET", f"/wallets/{encode_uri_component(wallet)}/accounts", auth=auth, **extra)

    def get_delegated_to(self, wallet: str, auth: Auth) -> Any:
        return self.call("GET", f"/delegations/from/{encode_uri_component(wallet)}", auth=auth)

    def get_delegated_from(self, wallet: str, auth: Auth) -> Any:
        return self.call("GET", f"/delegations/to/{encode_uri_component(wallet)}", auth=auth)

    def create_nonce(self, username: str, auth: Auth) -> Any:
        return self.call("POST", f"/users/{encode_uri_component(username)}/nonce", auth=auth, body={})

    def get_nonce(self, username: str, auth: Auth) -> Any:
        return self.call("GET", f"/users/{encode_uri_component(username)}/nonce", auth=auth)

    def get_entitlement(self, wallet: str, auth: Auth) -> Any:
        return self.call("GET", f"/wallets/{encode_uri_component(wallet)}/entitlements/", auth=auth)

    def get_points_balance(self, wallet: str, auth: Auth) -> Any:
        return self.call("GET", f"/wallets/{encode_uri_component(wallet)}/points", auth=auth)

    def get_referral_code(self, wallet: str, auth: Auth) -> Any:
        return self.call("POST", f"/wallets/{encode_uri_component(wallet)}/referral", auth=auth, body={})

    def get_wallet_names(self, wallet: str, auth: Auth) -> Any:
        return self.call("GET", f"/wallets/{encode_uri_component(wallet)}/names", auth=auth)

    def create_mail_template(self, wallet: str, auth: Auth, template: dict[str, Any]) -> Any:
        return self.call("POST", f"/wallets/{encode_uri_component(wallet)}/templates", auth=auth, body=template)

    def get_mail_templates(self, wallet: str, auth: Auth, **params: Any) -> Any:
        return self.call("GET", f"/wallets/{encode_uri_component(wallet)}/templates{_query(params)}", auth=auth)

    def get_mail_template(self, wallet: str, template_id: str, auth: Auth) -> Any:
        path = f"/wallets/{encode_uri_component(wallet)}/templates/{encode_uri_component(template_id)}"
        return self.call("GET", path, auth=auth)

    def update_mail_template(self, wallet: str, template_id: str, auth: Auth, updates: dict[str, Any]) -> Any:
        path = f"/wallets/{encode_uri_component(wallet)}/templates/{encode_uri_component(template_id)}"
        return self.call("PUT", path, auth=auth, body=updates)

    def delete_mail_template(self, wallet: str, template_id: str, auth: Auth) -> Any:
        path = f"/wallets/{encode_uri_component(wallet)}/templates/{encode_uri_component(template_id)}"
        return self.call("DELETE", path, auth=auth)

    def create_webhook(self, wallet: str, auth: Auth, webhook: dict[str, Any]) -> Any:
        return self.call("POST", f"/wallets/{encode_uri_component(wallet)}/webhooks", auth=auth, body=webhook)

    def get_webhooks(self, wallet: str, auth: Auth, **params: Any) -> Any:
        return self.call("GET", f"/wallets/{encode_uri_component(wallet)}/webhooks{_query(params)}", auth=auth)

    def get_webhook(self, wallet: str, webhook_id: str, auth: Auth) -> Any:
        path = f"/wallets/{encode_uri_component(wallet)}/webhooks/{encode_uri_component(webhook_id)}"
        return self.call("GET", path, auth=auth)

    def delete_webhook(self, wallet: str, webhook_id: str, auth: Auth) -> Any:
        path = f"/wallets/{encode_uri_component(wallet)}/webhooks/{encode_uri_component(webhook_id)}"
        return self.call("DELETE", path, auth=auth)


def _query(params: dict[str, Any]) -> str:
    """URLSearchParams as the client builds it: active, limit, offset, booleans as `true`/`false`."""
    pairs = [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items() if v is not None]
    return f"?{urlencode(pairs)}" if pairs else ""


def sign_in(client: IndexerClient, wallet: EvmWallet) -> Auth:
    """What an app does first: getMessage, then the wallet signs it."""
    data = client.get_message(1, wallet.address, "mail.example.com", "https://mail.example.com/login")
    return Auth(signature=wallet.sign(data["message"]), message=data["message"], signer=wallet.address)


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    node = Anvil()
    yield node
    node.stop()


@dataclass
class World:
    client: IndexerClient
    system: System
    anvil: Anvil
    mailer: Any
    names: Any

    def index(self) -> None:
        index(self.system, spec_for(self.anvil, [self.mailer.address], threedns=self.names.address))
        self.system.projections.catch_up_all()


@pytest.fixture
def world(database_url: str, anvil: Anvil) -> Iterator[World]:
    snapshot = anvil.snapshot()
    settings = Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        identity=IdentitySettings(internal_allowed_ips=[WILDDUCK], message_ttl=3600),
    )
    system = System(settings)
    client = IndexerClient(falcon.testing.TestClient(create_app(system)), dev=True)
    yield World(client, system, anvil, anvil.deploy("MailerEvents"), anvil.deploy("ThreeDNSEvents"))
    system.close()
    anvil.revert(snapshot)


def wallet_data(data: dict[str, Any], wallet: EvmWallet) -> None:
    """WalletData: `walletAddress` (EVM lower-cased) and `chainType`."""
    assert data["walletAddress"] == wallet.canonical and data["chainType"] == "evm"


def test_public_and_signed_wallet_methods(world: World) -> None:
    client, anvil = world.client, world.anvil
    owner, delegate = EvmWallet(account=anvil.keys[1]), EvmWallet(account=anvil.keys[2])
    node = keccak(text="alice.box")
    anvil.send(
        world.names.contract.functions.register(
            node, keccak(text="box"), b"\x05alice\x03box\x00", owner.address, 2_000_000_000
        ),
        0,
    )
    receipt = anvil.send(world.mailer.contract.functions.delegateTo(delegate.address), 1)
    world.index()

    # validateUsername (IndexerAddressValidationData) for an address and for a name
    for username, wallet, name in ((owner.address, owner.canonical, None), ("alice.box", owner.canonical, "alice.box")):
        found = client.validate_username(username)
        assert found["walletAddress"] == wallet and found["chainType"] == "evm" and found.get("name") == name

    # getMessage (IndexerSignInMessageData)
    message = client.get_message(1, owner.address, "mail.example.com", "https://mail.example.com/login")
    wallet_data(message, owner)
    assert message["chainId"] == 1 and owner.address in message["message"]
    auth = sign_in(client, owner)

    # getWalletNames (IndexerNameServiceData: names are strings) and resolveNameToAddress (WalletData)
    assert client.get_wallet_names(owner.address, auth)["names"] == ["alice.box"]
    wallet_data(client.resolve_name_to_address("alice.box"), owner)
    assert client.raw("GET", "/wallets/named/nobody.box").status_code == 404

    # getDelegatedTo (IndexerDelegateData) and getDelegatedFrom ({from: IndexerDelegateData[]})
    to = client.get_delegated_to(owner.address, auth)
    wallet_data(to, delegate)
    assert to["chainId"] == anvil.chain_id and to["txHash"] == "0x" + bytes(
        receipt["transactionHash"]
    ).hex().removeprefix("0x")
    (delegator,) = client.get_delegated_from(delegate.address, sign_in(client, delegate))["from"]
    wallet_data(delegator, owner)

    # createNonce and getNonce (IndexerNonceData)
    created = client.create_nonce(owner.address, auth)
    assert isinstance(created["nonce"], str) and created["nonce"]
    assert client.get_nonce(owner.address, sign_in(client, owner))["nonce"] == created["nonce"]
    auth = sign_in(client, owner)  # the new nonce made the earlier messages stale

    # getEntitlement (IndexerEntitlementData; RevenueCat is not configured here)
    entitlement = client.get_entitlement(owner.address, auth)
    wallet_data(entitlement, owner)
    assert entitlement["entitlement"]["type"] == "nameservice"
    assert entitlement["entitlement"]["hasEntitlement"] is False and entitlement["entitlement"]["isActive"] is False
    assert isinstance(entitlement["message"], str) and entitlement["verified"] is True

    # getReferralCode (the client's ReferralCodeData and the types' IndexerReferralCodeData)
    referral = client.get_referral_code(owner.address, auth)
    wallet_data(referral, owner)
    code = referral["referralCode"]
    assert len(code) == 9 and referral["createdAt"]
    assert referral["totalRedemptions"] == referral["totalReferrals"] == 0

    # a new wallet signs in through WildDuck, then opens its accounts with the owner's code (x-referral)
    newcomer = EvmWallet()
    newcomer_auth = sign_in(client, newcomer)
    login = {"username": newcomer.canonical, "message": newcomer_auth.message, "signature": newcomer_auth.signature}
    assert client.http.simulate_post("/idx/authenticate", json=login, remote_addr=WILDDUCK).status_code == 200
    accounts = client.get_wallet_accounts(newcomer.address, newcomer_auth, referral_code=code)["accounts"]
    wallet_data(accounts[0], newcomer)
    assert accounts[0]["names"] == []
    (mine,) = [
        a for a in client.get_wallet_accounts(owner.address, auth)["accounts"] if a["walletAddress"] == owner.canonical
    ]
    assert mine["names"][0]["name"] == "alice.box" and mine["names"][0]["entitled"] is False

    # getReferralStats (the client's ReferralStatsData, its tests' fields, and the types' shape)
    stats = client.get_referral_stats(code)
    wallet_data(stats, owner)
    assert stats["referralCode"] == code
    assert stats["totalReferred"] == stats["totalReferrals"] == stats["total"] == 1
    assert stats["successfulReferrals"] == 1  # the newcomer has signed in
    (referred,) = stats["referredWallets"]
    wallet_data(referred, newcomer)
    assert referred["createdAt"] and "ipAddress" not in referred
    assert stats["consumptions"][0]["referralCode"] == code
    assert client.get_referral_code(owner.address, auth)["totalReferrals"] == 1

    # getPointsBalance (IndexerPointsData), getPointsLeaderboard and getPointsSiteStats
    points = client.get_points_balance(owner.address, auth)
    wallet_data(points, owner)
    assert int(points["pointsEarned"]) > 0 and points["totalActivities"] == 1 and points["leaderboardRank"] == 1
    leaders = client.get_points_leaderboard(10)["leaderboard"]
    wallet_data(leaders[0], owner)  # the referral earned more than the newcomer's first sign-in
    assert leaders[0]["pointsEarned"] == points["pointsEarned"] and leaders[0]["leaderboardRank"] == 1
    assert [leader["walletAddress"] for leader in leaders] == [owner.canonical, newcomer.canonical]
    world.system.projections.catch_up_all()  # the site statistics are folded by `chainmail project`
    site = client.get_points_site_stats()
    assert int(site["totalPoints"]) == sum(int(leader["pointsEarned"]) for leader in leaders)
    assert site["totalUsers"] == 2


def test_mail_templates_from_create_to_delete(world: World) -> None:
    client, anvil = world.client, world.anvil
    owner = EvmWallet(account=anvil.keys[1])
    auth = sign_in(client, owner)

    created = client.create_mail_template(owner.address, auth, {"name": "Welcome", "subject": "Hi", "body": "Hello"})
    assert created["verified"] is True
    template = created["template"]
    assert template["id"] and template["userId"] == owner.canonical
    assert (template["name"], template["subject"], template["body"]) == ("Welcome", "Hi", "Hello")
    assert template["isActive"] is True and template["usageCount"] == 0 and template["lastUsedAt"] is None
    assert template["createdAt"] == template["updatedAt"] and template["createdAt"].endswith("Z")
    others = [
        client.create_mail_template(owner.address, auth, {"name": f"T{i}", "subject": "s", "body": "b"})["template"]
        for i in range(3)
    ]

    # sendPrepared names the template on chain; the log carries only its hash, matched to the template
    anvil.send(
        world.mailer.contract.functions.sendPrepared(anvil.accounts[2], template["id"], owner.address, False, True), 1
    )
    world.index()
    used = client.get_mail_template(owner.address, template["id"], auth)
    assert used["verified"] is True and used["template"]["usageCount"] == 1 and used["template"]["lastUsedAt"]

    updated = client.update_mail_template(owner.address, template["id"], auth, {"subject": "Hi there"})["template"]
    assert (updated["name"], updated["subject"], updated["body"]) == ("Welcome", "Hi there", "Hello")
    assert updated["updatedAt"] >= updated["createdAt"]

    page = client.get_mail_templates(owner.address, auth, limit=2, offset=0)
    assert page["total"] == 4 and page["hasMore"] is True and page["verified"] is True
    assert [t["id"] for t in page["templates"]] == [others[2]["id"], others[1]["id"]]  # newest first
    rest = client.get_mail_templates(owner.address, auth, limit=2, offset=2)
    assert [t["id"] for t in rest["templates"]] == [others[0]["id"], template["id"]] and rest["hasMore"] is False

    deleted = client.delete_mail_template(owner.address, others[0]["id"], auth)
    assert deleted["verified"] is True and deleted["message"]
    active = client.get_mail_templates(owner.address, auth, active=True)
    assert active["total"] == 3 and others[0]["id"] not in [t["id"] for t in active["templates"]]
    inactive = client.get_mail_templates(owner.address, auth, active=False)
    assert [t["id"] for t in inactive["templates"]] == [others[0]["id"]] and inactive["templates"][0][
        "isActive"
    ] is False
    assert client.get_mail_templates(owner.address, auth)["total"] == 4


def test_wallet_webhooks_from_create_to_delete(world: World) -> None:
    client, anvil = world.client, world.anvil
    owner = EvmWallet(account=anvil.keys[1])
    auth = sign_in(client, owner)

    created = client.create_webhook(owner.address, auth, {"webhookUrl": "https://hooks.example.com/mail"})
    assert created["verified"] is True
    webhook = created["webhook"]
    assert webhook["id"] and webhook["userId"] == owner.canonical
    assert webhook["webhookUrl"] == "https://hooks.example.com/mail" and webhook["isActive"] is True
    assert webhook["triggerCount"] == 0 and webhook["lastTriggeredAt"] is None
    assert webhook["createdAt"] and webhook["updatedAt"]
    second = client.create_webhook(owner.address, auth, {"webhookUrl": "http://127.0.0.1:9/other"})["webhook"]

    anvil.send(
        world.mailer.contract.functions.sendThroughWebhook(
            anvil.accounts[2], webhook["id"], owner.address, True, False
        ),
        1,
    )
    world.index()
    got = client.get_webhook(owner.address, webhook["id"], auth)
    assert got["verified"] is True and got["webhook"]["triggerCount"] == 1 and got["webhook"]["lastTriggeredAt"]

    listed = client.get_webhooks(owner.address, auth, limit=1)
    assert listed["total"] == 2 and listed["hasMore"] is True and listed["verified"] is True
    assert [w["id"] for w in listed["webhooks"]] == [second["id"]]

    deleted = client.delete_webhook(owner.address, second["id"], auth)
    assert deleted["verified"] is True and deleted["message"]
    active = client.get_webhooks(owner.address, auth, active=True, limit=10, offset=0)
    assert [w["id"] for w in active["webhooks"]] == [webhook["id"]] and active["hasMore"] is False


def test_templates_and_webhooks_belong_to_the_signing_wallet_and_refuse_bad_input(world: World) -> None:
    client = world.client
    owner, stranger = EvmWallet(), EvmWallet()
    auth, stranger_auth = sign_in(client, owner), sign_in(client, stranger)
    template = client.create_mail_template(owner.address, auth, {"name": "Mine", "subject": "s", "body": "b"})[
        "template"
    ]
    webhook = client.create_webhook(owner.address, auth, {"webhookUrl": "https://hooks.example.com/"})["webhook"]
    base = f"/wallets/{owner.address}"

    def refused(method: str, path: str, status: int, code: str, auth: Auth | None, body: Any = None) -> None:
        got = client.raw(method, path, auth=auth, body=body)
        assert got.status_code == status, f"{method} {path}: {got.status_code} {got.text}"
        assert got.json["success"] is False and got.json["code"] == code, got.json

    refused("GET", f"{base}/templates", 401, "MISSING_SIGNATURE", None)
    refused("POST", f"{base}/webhooks", 401, "MISSING_SIGNATURE", None, {"webhookUrl": "https://x.example/"})
    # another wallet's signature (as itself, or claiming to be the owner) opens none of the owner's
    other = client.raw("GET", f"{base}/templates/{template['id']}", auth=stranger_auth)
    assert other.status_code == 401
    claimed = Auth(stranger_auth.signature, stranger_auth.message, owner.address)
    assert client.raw("DELETE", f"{base}/webhooks/{webhook['id']}", auth=claimed).status_code == 401
    # and the stranger's own paths do not reach them
    mine = f"/wallets/{stranger.address}"
    refused("GET", f"{mine}/templates/{template['id']}", 404, "TEMPLATE_NOT_FOUND", stranger_auth)
    refused("DELETE", f"{mine}/webhooks/{webhook['id']}", 404, "WEBHOOK_NOT_FOUND", stranger_auth)
    refused("GET", f"{base}/templates/not-an-id", 404, "TEMPLATE_NOT_FOUND", auth)

    refused("POST", f"{base}/templates", 400, "VALIDATION_ERROR", auth, {"name": "", "subject": "s", "body": "b"})
    refused("POST", f"{base}/templates", 400, "VALIDATION_ERROR", auth, {"name": "n", "subject": 5, "body": "b"})
    refused("POST", f"{base}/templates", 400, "VALIDATION_ERROR", auth, {"name": "n", "subject": "s"})
    refused("PUT", f"{base}/templates/{template['id']}", 400, "VALIDATION_ERROR", auth, {})
    refused("POST", f"{base}/webhooks", 400, "VALIDATION_ERROR", auth, {"webhookUrl": "ftp://x.example/"})
    refused("POST", f"{base}/webhooks", 400, "VALIDATION_ERROR", auth, {"webhookUrl": "not a url"})
    for query in ("limit=0", "limit=101", "offset=-1", "limit=ten", "active=maybe"):
        refused("GET", f"{base}/templates?{query}", 400, "INVALID_PARAMETER", auth)
        refused("GET", f"{base}/webhooks?{query}", 400, "INVALID_PARAMETER", auth)

    client.delete_mail_template(owner.address, template["id"], auth)
    refused("PUT", f"{base}/templates/{template['id']}", 409, "TEMPLATE_DELETED", auth, {"name": "again"})
    assert client.get_mail_template(owner.address, template["id"], auth)["template"]["isActive"] is False
