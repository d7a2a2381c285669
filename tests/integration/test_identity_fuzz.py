"""No input makes an identity or OAuth route answer 500: arbitrary JSON bodies, query strings and
signature headers all get a 4xx in the indexer's shape (or a 2xx)."""

from __future__ import annotations

from urllib.parse import quote

import falcon.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.oauth import NewClient
from chainmail.system import System
from tests.integration.identity_wallets import EvmWallet

WALLET = EvmWallet()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
KEYS = ["username", "message", "signature", "signer", "password", "referrer", "walletAddress", "grant_type", "code",
        "code_verifier", "refresh_token", "client_id", "client_secret", "redirect_uri", "token", "session_id",
        "current_wallet", "chain_type", "wallet_identifier", "emailDomain", "token_type_hint"]  # fmt: skip
bodies = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)
POSTS = [
    "/idx/authenticate",
    f"/idx/api/addresses/{WALLET.address}/verify",
    "/idx/verify",
    f"/idx/users/{WALLET.address}/nonce",
    "/idx/auth/challenge",
    "/idx/auth/verify",
    "/idx/oauth/token",
    "/idx/oauth/revoke",
    "/api/authenticate",
]
GETS = [
    f"/idx/wallets/{WALLET.address}/message",
    f"/idx/wallets/{WALLET.address}/accounts",
    f"/idx/wallets/{WALLET.address}/authenticated",
    f"/idx/wallets/{WALLET.address}/entitlements/",
    "/idx/oauth/authorize",
    "/idx/oauth/userinfo",
]
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120)


def fine(got: falcon.testing.Result) -> None:
    assert got.status_code < 500, (got.status_code, got.text)
    if got.status_code >= 400 and got.json is not None and "success" in got.json:
        assert got.json["success"] is False


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(POSTS), body=bodies, as_form=st.booleans())
def test_posts_never_fail_with_500(
    client: falcon.testing.TestClient, system: System, path: str, body: dict, as_form: bool
) -> None:
    identity = system.context(Identity)
    if identity.oauth_client("fuzz") is None:
        identity.register_client(NewClient("fuzz", "Fuzz", ["https://f.example/cb"], ["openid"], confidential=False))
    if as_form:
        flat = {k: v for k, v in body.items() if isinstance(v, str)}
        fine(client.simulate_post(path, params=flat))
    else:
        fine(client.simulate_post(path, json=body))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(GETS),
    query=st.dictionaries(
        st.sampled_from(
            [
                "domain",
                "url",
                "chainId",
                "client_id",
                "redirect_uri",
                "response_type",
                "scope",
                "code_challenge",
                "code_challenge_method",
                "session_id",
                "privacy_level",
            ]
        ),
        st.text(max_size=30),
        max_size=5,
    ),
    signature=header_text,
    message=header_text,
    signer=header_text,
    auth=header_text,
)
def test_gets_never_fail_with_500(
    client: falcon.testing.TestClient, path: str, query: dict, signature: str, message: str, signer: str, auth: str
) -> None:
    headers = {
        "x-signature": signature,
        "x-message": quote(message) if message.isalnum() else message,
        "x-signer": signer,
        "Authorization": auth,
        "X-Session-Id": signer,
    }
    fine(client.simulate_get(path, params=query, headers=headers))
