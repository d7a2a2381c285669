"""A real OAuth client library (authlib's requests client) against a running `chainmail serve` with two
workers: authorization code + PKCE, userinfo, refresh, and revocation taking effect."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.integration.identity_wallets import EvmWallet

REDIRECT = "https://app.example.org/callback"
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(database_url: str, var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINMAIL_")}
    env.update(
        CHAINMAIL_DATABASE_URL=database_url,
        CHAINMAIL_VAR_DIR=str(var_dir),
        CHAINMAIL_API_ACCESS_TOKEN="oauth-e2e-root",
        CHAINMAIL_EMAIL_DOMAIN="example.com",
        CHAINMAIL_LOG_LEVEL="warning",
        CHAINMAIL_PORT=str(port),
        CHAINMAIL_WORKERS="2",
        CHAINMAIL_IDENTITY=json.dumps({"jwt_issuer": "https://auth.example.com"}),
    )
    return env


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    env = _env(database_url, tmp_path / "var", port)
    add = [sys.executable, "-m", "chainmail.cli", "oauth-client", "add", "thirdparty", "--name", "Third Party"]
    registered = subprocess.run([*add, "--redirect-uri", REDIRECT], env=env, capture_output=True, text=True, check=True)
    secret = json.loads(registered.stdout)["client_secret"]
    log = (tmp_path / "serve.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "chainmail.cli", "serve"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/idx/.well-known/openid-configuration").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield url, {"client_id": "thirdparty", "client_secret": secret}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_authlib_completes_the_code_flow_with_pkce_refreshes_and_sees_revocation(
    server: tuple[str, dict[str, str]],
) -> None:
    url, credentials = server
    meta = requests.get(f"{url}/idx/.well-known/openid-configuration", timeout=10).json()
    endpoints = meta  # the discovery document's own URLs, as a client would use them
    wallet = EvmWallet()
    client = OAuth2Session(
        credentials["client_id"],
        credentials["client_secret"],
        scope="openid email wallet offline_access",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = "v" * 20 + os.urandom(24).hex()
    authorize_url, state = client.create_authorization_url(
        endpoints["authorization_endpoint"], code_verifier=verifier, nonce="n1"
    )

    # The user agent: the wallet signs the challenge, then the authorization request carries the session.
    challenge = requests.post(
        f"{url}/idx/auth/challenge",
        json={"wallet_identifier": wallet.address, "client_id": "thirdparty", "redirect_uri": REDIRECT},
        timeout=10,
    ).json()["data"]
    verified = requests.post(
        f"{url}/idx/auth/verify",
        json={
            "session_id": challenge["session_id"],
            "signature": wallet.sign(challenge["challenge"], "base64"),
            "chain_type": "evm",
            "current_wallet": wallet.address,
        },
        timeout=10,
    )
    assert verified.status_code == 200, verified.text
    authorized = requests.get(authorize_url, headers={"X-Session-Id": challenge["session_id"]}, timeout=10)
    assert authorized.status_code == 200, authorized.text
    redirect_url = authorized.json()["data"]["redirect_url"]

    token = client.fetch_token(
        endpoints["token_endpoint"], authorization_response=redirect_url, code_verifier=verifier, state=state
    )

    assert token["token_type"] == "Bearer" and token["refresh_token"]
    keys = KeySet.import_key_set(requests.get(endpoints["jwks_uri"], timeout=10).json())
    id_token = jwt.decode(token["id_token"], keys)  # verifiable by a third party from the published JWKS
    assert id_token.claims["sub"] == wallet.canonical and id_token.claims["nonce"] == "n1"
    info = client.get(endpoints["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200 and info.json()["wallet_address"] == wallet.canonical

    refreshed = client.refresh_token(endpoints["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert client.get(endpoints["userinfo_endpoint"], timeout=10).status_code == 200  # any worker verifies it

    revoked = client.revoke_token(
        endpoints["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token"
    )
    assert revoked.status_code == 200
    after = client.get(endpoints["userinfo_endpoint"], timeout=10)
    assert after.status_code == 401 and after.json()["error"] == "invalid_token"


def test_the_wildduck_login_bridge_on_a_running_server(server: tuple[str, dict[str, str]]) -> None:
    url, _ = server
    wallet = EvmWallet()
    root = {"X-Access-Token": "oauth-e2e-root"}
    message = requests.get(
        f"{url}/idx/wallets/{wallet.address}/message",
        params={"chainId": "1", "domain": "mail.example.com", "url": "https://mail.example.com/"},
        timeout=10,
    ).json()["data"]["message"]
    body = {"username": wallet.address, "message": message, "signature": wallet.sign(message), "signer": wallet.address}

    first = requests.post(f"{url}/api/authenticate", json={**body, "token": True}, headers=root, timeout=10)
    second = requests.post(f"{url}/api/authenticate", json=body, headers=root, timeout=10)

    assert first.status_code == 200, first.text
    assert first.json()["username"] == wallet.canonical and first.json()["token"]
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]
    mine = requests.get(
        f"{url}/api/users/{first.json()['id']}", headers={"X-Access-Token": first.json()["token"]}, timeout=10
    )
    assert mine.status_code == 200 and mine.json()["address"] == f"{wallet.canonical}@example.com"
