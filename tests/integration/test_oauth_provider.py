"""The OAuth 2 / OpenID Connect provider through its HTTP routes, on both stores: a wallet signs the
challenge, the client gets a code with PKCE, swaps it for tokens, refreshes, reads userinfo; and every
refusal (wrong verifier, reused code, reused refresh token, expired or revoked token...) gets its status."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select

from chainmail.config import Settings
from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.oauth import NewClient
from chainmail.http.app import create_app
from chainmail.http.idx.signature import identity_of
from chainmail.identity.settings import IdentitySettings
from chainmail.store.service_keys import service_keys
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN, in_threads
from tests.integration.identity_wallets import EvmWallet, SolanaWallet

REDIRECT = "https://app.example.org/callback"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        var_dir=tmp_path,
        identity=IdentitySettings(jwt_issuer="https://auth.example.com", rate_limit_per_minute=40),
    )


@pytest.fixture
def system(settings: Settings, clock: Clock) -> Iterator[System]:
    system = System(settings, clock=clock)
    yield system
    system.close()


@pytest.fixture
def client(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system))


@dataclass
class Registered:
    client_id: str
    secret: str | None


@pytest.fixture
def confidential(system: System) -> Registered:
    new = NewClient("webapp", "Web App", [REDIRECT], ["openid", "profile", "email", "wallet", "offline_access"])
    return Registered("webapp", system.context(Identity).register_client(new))


@pytest.fixture
def public(system: System) -> Registered:
    new = NewClient("mobile", "Mobile", [REDIRECT], ["openid", "email", "offline_access"], confidential=False)
    return Registered("mobile", system.context(Identity).register_client(new))


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def signed_session(
    client: falcon.testing.TestClient,
    wallet: Any,
    reg: Registered,
    *,
    identifier: str | None = None,
    signer: Any = None,
) -> str:
    got = client.simulate_post(
        "/idx/auth/challenge",
        json={"wallet_identifier": identifier or wallet.address, "client_id": reg.client_id, "redirect_uri": REDIRECT},
    )
    assert got.status_code == 200, got.text
    data = got.json["data"]
    signer = signer or wallet
    verified = client.simulate_post(
        "/idx/auth/verify",
        json={
            "session_id": data["session_id"],
            "signature": signer.sign(data["challenge"]),
            "chain_type": data["chain_type"],
            "current_wallet": signer.address,
        },
    )
    assert verified.status_code == 200, verified.text
    assert verified.json["data"] == {"success": True, "session_id": data["session_id"]}
    return data["session_id"]


def authorize(
    client: falcon.testing.TestClient, session: str, reg: Registered, challenge: str | None, **extra: str
) -> falcon.testing.Result:
    params = {"client_id": reg.client_id, "redirect_uri": REDIRECT, "response_type": "code", "state": "xyz"}
    scope = "openid email offline_access" if reg.secret is None else "openid email wallet profile offline_access"
    params.update({"scope": scope, "nonce": "n-0S6"})
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return client.simulate_get("/idx/oauth/authorize", params=params, headers={"X-Session-Id": session})


def token(client: falcon.testing.TestClient, reg: Registered, **form: str) -> falcon.testing.Result:
    body = {"client_id": reg.client_id, **({"client_secret": reg.secret} if reg.secret else {}), **form}
    return client.simulate_post("/idx/oauth/token", params=body)  # form-encoded, as OAuth clients send it


def code_for(client: falcon.testing.TestClient, wallet: Any, reg: Registered, **extra: str) -> tuple[str, str]:
    verifier, challenge = pkce()
    got = authorize(client, signed_session(client, wallet, reg), reg, challenge, **extra)
    assert got.status_code == 200, got.text
    return got.json["data"]["code"], verifier


def exchange(client: falcon.testing.TestClient, reg: Registered, code: str, verifier: str) -> falcon.testing.Result:
    return token(client, reg, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier)


def userinfo(client: falcon.testing.TestClient, access_token: str) -> falcon.testing.Result:
    return client.simulate_get("/idx/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def oauth_error(got: falcon.testing.Result, status: int, error: str) -> None:
    assert got.status_code == status, got.text
    assert got.json["success"] is False and got.json["error"] == error and got.json["error_description"]


# -- the happy path ---------------------------------------------------------------------------------


def test_discovery_and_jwks_describe_the_provider(client: falcon.testing.TestClient) -> None:
    found = client.simulate_get("/idx/.well-known/openid-configuration").json
    assert found["issuer"] == "https://auth.example.com"
    assert found["token_endpoint"].endswith("/idx/oauth/token")
    assert found["code_challenge_methods_supported"] == ["S256"]
    keys = client.simulate_get(found["jwks_uri"].split("falconframework.org", 1)[-1]).json["keys"]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and "d" not in keys[0]


def test_a_wallet_signs_in_to_a_client_with_pkce_and_refreshes(
    client: falcon.testing.TestClient, confidential: Registered
) -> None:
    wallet = EvmWallet()
    session = signed_session(client, wallet, confidential)
    verifier, challenge = pkce()

    authorized = authorize(client, session, confidential, challenge)
    assert authorized.status_code == 200, authorized.text
    data = authorized.json["data"]
    assert data["redirect_url"] == f"{REDIRECT}?code={data['code']}&state=xyz" and data["state"] == "xyz"

    tokens = exchange(client, confidential, data["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["refresh_token"]
    assert body["id_token"] and tokens.headers["cache-control"] == "no-store"

    info = userinfo(client, body["access_token"])
    assert info.status_code == 200, info.text
    assert info.json["sub"] == wallet.canonical and info.json["wallet_address"] == wallet.canonical
    assert info.json["email"] == f"{wallet.canonical}@example.com" and info.json["email_verified"] is True

    refreshed = token(client, confidential, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json["refresh_token"] != body["refresh_token"]
    assert userinfo(client, refreshed.json["access_token"]).status_code == 200


def test_a_public_client_uses_pkce_without_a_secret(client: falcon.testing.TestClient, public: Registered) -> None:
    code, verifier = code_for(client, SolanaWallet(), public, scope="openid email")
    got = exchange(client, public, code, verifier)
    assert got.status_code == 200, got.text
    assert "refresh_token" not in got.json  # no offline_access asked for


def test_the_anonymous_privacy_level_hides_the_wallet(
    client: falcon.testing.TestClient, confidential: Registered
) -> None:
    wallet = EvmWallet()
    code, verifier = code_for(client, wallet, confidential, privacy_level="anonymous")
    info = userinfo(client, exchange(client, confidential, code, verifier).json["access_token"]).json
    assert info["privacy_level"] == "anonymous" and info["sub"] != wallet.canonical and len(info["sub"]) == 64
    assert "email" not in info and "wallet_address" not in info


def test_a_delegate_may_sign_the_challenge_for_its_delegator(
    client: falcon.testing.TestClient, system: System, confidential: Registered
) -> None:
    delegator, delegate = EvmWallet(), EvmWallet()

    class Delegations:
        def owner_of(self, name: str) -> None:
            return None

        def names_of(self, wallet: str) -> list:
            return []

        def delegate_of(self, wallet: str) -> str | None:
            return delegate.canonical if wallet == delegator.canonical else None

        def delegators_of(self, wallet: str) -> list:
            return []

    identity_of(system).directory = Delegations()
    session = signed_session(client, delegator, confidential, signer=delegate)
    verifier, challenge = pkce()
    code = authorize(client, session, confidential, challenge).json["data"]["code"]
    info = userinfo(client, exchange(client, confidential, code, verifier).json["access_token"]).json
    assert info["sub"] == delegator.canonical


def test_client_information_is_public(client: falcon.testing.TestClient, public: Registered) -> None:
    got = client.simulate_get("/idx/api/oauth/clients/mobile")
    assert got.json["data"]["client_name"] == "Mobile" and got.json["data"]["require_pkce"] is True
    assert client.simulate_get("/idx/oauth/clients/nobody").status_code == 404


# -- refusals ---------------------------------------------------------------------------------------


def test_a_wrong_pkce_verifier_is_refused(client: falcon.testing.TestClient, confidential: Registered) -> None:
    code, _ = code_for(client, EvmWallet(), confidential)
    oauth_error(exchange(client, confidential, code, pkce()[0]), 400, "invalid_grant")
    oauth_error(exchange(client, confidential, code, "short"), 400, "invalid_grant")


def test_a_reused_code_is_refused_and_revokes_what_it_granted(
    client: falcon.testing.TestClient, confidential: Registered
) -> None:
    code, verifier = code_for(client, EvmWallet(), confidential)
    first = exchange(client, confidential, code, verifier)
    assert first.status_code == 200

    oauth_error(exchange(client, confidential, code, verifier), 400, "invalid_grant")
    oauth_error(userinfo(client, first.json["access_token"]), 401, "invalid_token")


def test_a_reused_refresh_token_revokes_the_whole_family(
    client: falcon.testing.TestClient, confidential: Registered
) -> None:
    code, verifier = code_for(client, EvmWallet(), confidential)
    original = exchange(client, confidential, code, verifier).json
    rotated = token(client, confidential, grant_type="refresh_token", refresh_token=original["refresh_token"]).json

    replay = token(client, confidential, grant_type="refresh_token", refresh_token=original["refresh_token"])

    oauth_error(replay, 400, "invalid_grant")
    oauth_error(
        token(client, confidential, grant_type="refresh_token", refresh_token=rotated["refresh_token"]),
        400,
        "invalid_grant",
    )
    oauth_error(userinfo(client, rotated["access_token"]), 401, "invalid_token")


def test_expired_access_tokens_and_codes_are_refused(
    client: falcon.testing.TestClient, confidential: Registered, clock: Clock
) -> None:
    code, verifier = code_for(client, EvmWallet(), confidential)
    access = exchange(client, confidential, code, verifier).json["access_token"]
    late_code, late_verifier = code_for(client, EvmWallet(), confidential)
    clock.now += timedelta(hours=2)

    oauth_error(userinfo(client, access), 401, "invalid_token")
    oauth_error(exchange(client, confidential, late_code, late_verifier), 400, "invalid_grant")


def test_revocation_takes_effect(client: falcon.testing.TestClient, confidential: Registered) -> None:
    code, verifier = code_for(client, EvmWallet(), confidential)
    tokens = exchange(client, confidential, code, verifier).json
    auth = {"client_id": "webapp", "client_secret": confidential.secret}

    revoked = client.simulate_post("/idx/oauth/revoke", params={**auth, "token": tokens["refresh_token"]})
    assert revoked.status_code == 200 and revoked.json["success"] is True
    oauth_error(userinfo(client, tokens["access_token"]), 401, "invalid_token")
    oauth_error(
        token(client, confidential, grant_type="refresh_token", refresh_token=tokens["refresh_token"]),
        400,
        "invalid_grant",
    )
    unknown = client.simulate_post("/idx/oauth/revoke", params={**auth, "token": "not-a-token"})
    assert unknown.status_code == 200  # RFC 7009: nothing to say about unknown tokens


def test_revoking_an_access_token_ends_its_grant(client: falcon.testing.TestClient, confidential: Registered) -> None:
    code, verifier = code_for(client, EvmWallet(), confidential)
    tokens = exchange(client, confidential, code, verifier).json
    basic = base64.b64encode(f"webapp:{confidential.secret}".encode()).decode()
    got = client.simulate_post(
        "/idx/oauth/revoke", params={"token": tokens["access_token"]}, headers={"Authorization": f"Basic {basic}"}
    )
    assert got.status_code == 200
    oauth_error(userinfo(client, tokens["access_token"]), 401, "invalid_token")


def test_every_node_signs_with_one_key(
    settings: Settings, client: falcon.testing.TestClient, confidential: Registered, tmp_path: Path
) -> None:
    """A second node on the same database (a var/ of its own, as another machine or container has): the
    tokens one node issues work on the other, both publish one JWKS, a revocation on either ends them, and an
    anonymous subject is the same on both. Each node made its own key under its var/: the other answered 401
    to every token, and a revocation there answered success and revoked nothing."""
    other_node = System(settings.model_copy(update={"var_dir": tmp_path / "other-node"}))
    try:
        other = falcon.testing.TestClient(create_app(other_node))
        code, verifier = code_for(client, EvmWallet(), confidential)
        tokens = exchange(client, confidential, code, verifier).json

        assert userinfo(other, tokens["access_token"]).status_code == 200
        assert (
            other.simulate_get("/idx/.well-known/jwks.json").json
            == client.simulate_get("/idx/.well-known/jwks.json").json
        )
        auth = {"client_id": "webapp", "client_secret": confidential.secret, "token": tokens["access_token"]}
        assert other.simulate_post("/idx/oauth/revoke", params=auth).status_code == 200
        oauth_error(userinfo(client, tokens["access_token"]), 401, "invalid_token")
        wallet, subjects = EvmWallet(), []
        for node in (client, other):
            code, verifier = code_for(node, wallet, confidential, privacy_level="anonymous")
            subjects.append(
                userinfo(node, exchange(node, confidential, code, verifier).json["access_token"]).json["sub"]
            )
        assert subjects[0] == subjects[1] != wallet.canonical
    finally:
        other_node.close()


def test_the_kept_key_is_sealed_with_the_configured_secret(settings: Settings, confidential: Registered) -> None:
    """With a secret configured, the database holds the signing key sealed, never its PEM."""
    system = System(settings.model_copy(update={"secret": "a secret for sealing keys at rest"}))
    try:
        client = falcon.testing.TestClient(create_app(system))
        code, verifier = code_for(client, EvmWallet(), confidential)
        assert exchange(client, confidential, code, verifier).status_code == 200
        with system.engine.connect() as conn:
            stored = conn.execute(select(service_keys.c.value)).scalar_one()
        assert stored.startswith("$aesgcm$oauth$") and "PRIVATE KEY" not in stored
    finally:
        system.close()


def test_a_key_an_earlier_version_made_under_var_is_kept(settings: Settings, confidential: Registered) -> None:
    """A node that made its key under var/ before the key was shared goes on with it: the tokens it issued
    stay valid, and it becomes every node's key."""
    earlier = RSAKey.generate_key(2048, private=True)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    (settings.var_dir / "oauth-signing-key.pem").write_bytes(earlier.as_pem(private=True))
    system = System(settings)
    try:
        keys = falcon.testing.TestClient(create_app(system)).simulate_get("/idx/.well-known/jwks.json").json["keys"]
        assert [key["kid"] for key in keys] == [earlier.thumbprint()]
    finally:
        system.close()


def test_client_authentication_is_required_for_confidential_clients(
    client: falcon.testing.TestClient, confidential: Registered
) -> None:
    code, verifier = code_for(client, EvmWallet(), confidential)
    wrong = Registered("webapp", "wrong-secret")
    got = exchange(client, wrong, code, verifier)
    oauth_error(got, 401, "invalid_client")
    assert got.headers["www-authenticate"].startswith("Basic")
    oauth_error(exchange(client, Registered("webapp", None), code, verifier), 401, "invalid_client")
    oauth_error(exchange(client, Registered("ghost", None), code, verifier), 401, "invalid_client")
    oauth_error(token(client, confidential, grant_type="password"), 400, "unsupported_grant_type")


def test_a_double_submitted_verification_or_authorization_is_refused_as_a_second_one(
    client: falcon.testing.TestClient, confidential: Registered
) -> None:
    """A sign-in page submits one session's signature eight times at once, then asks for its code eight times
    at once (double clicks, prefetching): one of each is answered 200 and the others 401, as a second one
    after it would be, never 500 (each changes the session, and the losers of the race failed)."""
    wallet = EvmWallet()
    got = client.simulate_post(
        "/idx/auth/challenge",
        json={"wallet_identifier": wallet.address, "client_id": confidential.client_id, "redirect_uri": REDIRECT},
    ).json["data"]
    signed = {
        "session_id": got["session_id"],
        "signature": wallet.sign(got["challenge"]),
        "chain_type": got["chain_type"],
        "current_wallet": wallet.address,
    }
    verifier, challenge = pkce()
    barrier = threading.Barrier(8)
    verified: list[tuple[int, str]] = []
    authorized: list[tuple[int, str]] = []

    def verify(_: int) -> None:
        barrier.wait()
        answer = client.simulate_post("/idx/auth/verify", json=signed)
        verified.append((answer.status_code, answer.json["error"] if answer.status_code != 200 else ""))

    def ask_for_code(_: int) -> None:
        barrier.wait()
        answer = authorize(client, got["session_id"], confidential, challenge)
        authorized.append((answer.status_code, answer.json["data"]["code"] if answer.status_code == 200 else ""))

    in_threads(verify, 8)
    in_threads(ask_for_code, 8)

    assert sorted(verified) == [(200, "")] + [(401, "invalid_request")] * 7
    assert sorted(status for status, _ in authorized) == [200] + [401] * 7
    code = next(code for status, code in authorized if status == 200)
    assert exchange(client, confidential, code, verifier).status_code == 200


def test_authorize_refusals(client: falcon.testing.TestClient, confidential: Registered, public: Registered) -> None:
    wallet = EvmWallet()
    _, challenge = pkce()
    session = signed_session(client, wallet, public)
    oauth_error(authorize(client, session, public, None), 400, "invalid_request")  # public client: PKCE required
    oauth_error(authorize(client, session, public, challenge, code_challenge_method="plain"), 400, "invalid_request")
    oauth_error(authorize(client, session, public, challenge, scope="openid wallet"), 400, "invalid_scope")
    oauth_error(authorize(client, session, public, challenge, response_type="token"), 400, "unsupported_response_type")
    oauth_error(authorize(client, session, confidential, challenge), 400, "invalid_request")  # another client's session
    oauth_error(
        authorize(client, session, public, challenge, redirect_uri="https://evil.example/"), 400, "invalid_request"
    )
    assert authorize(client, session, public, challenge, scope="openid email").status_code == 200
    oauth_error(authorize(client, session, public, challenge, scope="openid email"), 401, "invalid_request")  # used
    no_session = client.simulate_get(
        "/idx/oauth/authorize", params={"client_id": "mobile", "redirect_uri": REDIRECT, "response_type": "code"}
    )
    oauth_error(no_session, 401, "access_denied")


def test_an_unsigned_or_forged_challenge_opens_nothing(client: falcon.testing.TestClient, public: Registered) -> None:
    wallet, forger = EvmWallet(), EvmWallet()
    data = client.simulate_post(
        "/idx/auth/challenge",
        json={"wallet_identifier": wallet.address, "client_id": "mobile", "redirect_uri": REDIRECT},
    ).json["data"]
    _, challenge = pkce()

    oauth_error(authorize(client, data["session_id"], public, challenge), 401, "access_denied")
    forged = {
        "session_id": data["session_id"],
        "signature": forger.sign(data["challenge"]),
        "current_wallet": wallet.address,
    }
    oauth_error(client.simulate_post("/idx/auth/verify", json=forged), 401, "access_denied")
    other = {**forged, "current_wallet": forger.address}
    oauth_error(client.simulate_post("/idx/auth/verify", json=other), 401, "access_denied")
    garbage = {**forged, "signature": "!!"}
    oauth_error(client.simulate_post("/idx/auth/verify", json=garbage), 401, "access_denied")
    oauth_error(client.simulate_post("/idx/auth/verify", json={**forged, "session_id": "nope"}), 401, "invalid_request")
    oauth_error(client.simulate_post("/idx/auth/verify", json={"session_id": "x"}), 400, "invalid_request")
    bad = client.simulate_post(
        "/idx/auth/challenge", json={"wallet_identifier": "x y", "client_id": "mobile", "redirect_uri": REDIRECT}
    )
    oauth_error(bad, 400, "invalid_request")
    unknown = client.simulate_post(
        "/idx/auth/challenge",
        json={"wallet_identifier": wallet.address, "client_id": "ghost", "redirect_uri": REDIRECT},
    )
    oauth_error(unknown, 401, "invalid_client")


def test_bad_bearer_tokens_get_401(client: falcon.testing.TestClient) -> None:
    oauth_error(client.simulate_get("/idx/oauth/userinfo"), 401, "invalid_token")
    oauth_error(userinfo(client, "a.b.c"), 401, "invalid_token")
    oauth_error(userinfo(client, "garbage"), 401, "invalid_token")


def test_the_token_endpoint_is_rate_limited_per_client(client: falcon.testing.TestClient, public: Registered) -> None:
    statuses = [token(client, public, grant_type="refresh_token", refresh_token="x").status_code for _ in range(41)]
    assert statuses[:40] == [400] * 40 and statuses[40] == 429


def test_behind_a_trusted_proxy_challenges_are_rate_limited_per_forwarded_client_address(
    settings: Settings, clock: Clock
) -> None:
    proxied = settings.model_copy(
        update={"identity": settings.identity.model_copy(update={"trusted_proxies": ["10.0.0.1"]})}
    )
    system = System(proxied, clock=clock)
    try:
        client = falcon.testing.TestClient(create_app(system))

        def challenge(forwarded_for: str, n: int) -> int:
            return client.simulate_post(
                "/idx/auth/challenge",
                json={"wallet_identifier": EvmWallet().address, "client_id": f"c{n}", "redirect_uri": REDIRECT},
                headers={"X-Forwarded-For": forwarded_for},
                remote_addr="10.0.0.1",
            ).status_code

        statuses = [challenge("203.0.113.5", n) for n in range(41)]
        assert 429 not in statuses[:40] and statuses[40] == 429
        assert challenge("198.51.100.7", 99) != 429  # another client behind the same proxy has its own budget
    finally:
        system.close()


def test_clients_are_registered_with_the_cli(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from chainmail.cli import main

    # main() would point structlog at capsys's stream, which closes after this test and breaks later logging
    monkeypatch.setattr("chainmail.cli.configure_logging", lambda level: None)
    monkeypatch.setenv("CHAINMAIL_DATABASE_URL", database_url)
    monkeypatch.setenv("CHAINMAIL_VAR_DIR", str(tmp_path))
    main(["oauth-client", "add", "cli-app", "--name", "CLI App", "--redirect-uri", REDIRECT, "--scope", "openid email"])
    added = json.loads(capsys.readouterr().out)
    assert added["client_id"] == "cli-app" and len(added["client_secret"]) == 64
    main(["oauth-client", "add", "cli-public", "--name", "P", "--redirect-uri", REDIRECT, "--public"])
    assert json.loads(capsys.readouterr().out)["client_secret"] is None
    main(["oauth-client", "show", "cli-app"])
    assert json.loads(capsys.readouterr().out)["scope"] == "openid email"
    with pytest.raises(SystemExit, match="already exists"):
        main(["oauth-client", "add", "cli-app", "--name", "again", "--redirect-uri", REDIRECT])
    with pytest.raises(SystemExit, match="invalid_scope"):
        main(["oauth-client", "add", "x", "--name", "x", "--redirect-uri", REDIRECT, "--scope", "admin"])
