"""The WildDuck login bridge: `POST /api/authenticate` with a wallet's signature creates the account on
first use and reuses it afterwards; a bad signature opens nothing."""

from __future__ import annotations

import re

import falcon.testing

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.signatures import parse_wallet
from chainmail.system import System
from tests.integration.identity_wallets import EvmWallet, SolanaWallet, sign_in_message


def wallet_login(
    client: falcon.testing.TestClient, wallet: EvmWallet | SolanaWallet, **extra: object
) -> falcon.testing.Result:
    message = sign_in_message(client, wallet)
    body = {"username": wallet.address, "message": message, "signature": wallet.sign(message), "signer": wallet.address}
    return client.simulate_post("/api/authenticate", json={**body, **extra})


def test_a_first_wallet_login_creates_the_account_and_a_second_reuses_it(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()

    first = wallet_login(client, wallet, token=True)
    second = wallet_login(client, wallet)

    assert first.status_code == 200, first.text
    assert first.json["success"] is True and first.json["username"] == wallet.canonical
    assert first.json["address"] == f"{wallet.canonical}@example.com"
    assert re.fullmatch(r"[0-9a-f]{40}", first.json["token"])
    assert second.status_code == 200 and second.json["id"] == first.json["id"]
    account = client.simulate_get(f"/api/users/{first.json['id']}")
    assert account.json["username"] == wallet.canonical and account.json["address"] == f"{wallet.canonical}@example.com"
    assert account.json["hasPasswordSet"] is False
    mine = client.simulate_get(f"/api/users/{first.json['id']}", headers={"X-Access-Token": first.json["token"]})
    assert mine.status_code == 200 and mine.json["id"] == first.json["id"]


def test_a_solana_wallet_logs_in_with_its_own_email_domain(client: falcon.testing.TestClient) -> None:
    wallet = SolanaWallet()
    got = wallet_login(client, wallet, emailDomain="0xmail.box")
    assert got.status_code == 200, got.text
    assert got.json["address"].endswith("@0xmail.box")
    assert got.json["address"].split("@")[0] == wallet.address.lower()


def test_a_forged_wallet_login_opens_nothing(client: falcon.testing.TestClient, system: System) -> None:
    wallet, forger = EvmWallet(), EvmWallet()
    message = sign_in_message(client, wallet)

    got = client.simulate_post(
        "/api/authenticate", json={"username": wallet.address, "message": message, "signature": forger.sign(message)}
    )

    assert got.status_code == 403
    assert got.json == {"error": "Authentication failed", "code": "IndexerAuthFailed", "reason": "INVALID_SIGNATURE"}
    assert client.simulate_get("/api/users/resolve/" + wallet.canonical).status_code == 404
    parsed = parse_wallet(wallet.address)  # and the identity context recorded no login
    assert parsed is not None and system.context(Identity).first_authentication(parsed) is None


def test_bad_wallet_login_bodies_get_400(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    bad = client.simulate_post("/api/authenticate", json={"username": wallet.address, "signature": 5, "message": "m"})
    assert bad.status_code == 400 and bad.json["code"] == "InputValidationError"
    domain = wallet_login(client, wallet, emailDomain="not a domain")
    assert domain.status_code == 400 and domain.json["code"] == "InputValidationError"
    stale = client.simulate_post(
        "/api/authenticate", json={"username": wallet.address, "signature": wallet.sign("x"), "message": "x"}
    )
    assert stale.status_code == 403 and stale.json["reason"] == "INVALID_MESSAGE"


def test_password_logins_still_work_beside_wallet_logins(client: falcon.testing.TestClient) -> None:
    created = client.simulate_post("/api/users", json={"username": "classic", "password": "secretvalue"})
    assert created.status_code == 200
    got = client.simulate_post("/api/authenticate", json={"username": "classic", "password": "secretvalue"})
    assert got.status_code == 200 and got.json["username"] == "classic"
