"""No input makes a points, referral or KYC route answer 500: arbitrary JSON bodies, path segments and
signed-but-odd Sumsub webhooks all get a 4xx in the indexer's shape (or a 2xx)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from urllib.parse import quote

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.identity.settings import IdentitySettings
from chainmail.identity.sumsub import KycSettings
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.identity_wallets import EvmWallet

WALLET = EvmWallet()
SECRET = "fuzz-webhook-secret"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
KEYS = ["action", "referrer", "verificationLevel", "type", "applicantId", "externalUserId", "correlationId",
        "levelName", "reviewResult", "reviewStatus"]  # fmt: skip
bodies = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)
segments = st.text(max_size=30).map(lambda s: quote(s, safe="")).filter(bool)


@pytest.fixture
def settings_(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        identity=IdentitySettings(rate_limit_per_minute=100_000),
        kyc=KycSettings(
            enabled=True,
            sumsub_webhook_secret=SECRET,
            sumsub_app_token="t",
            sumsub_secret_key="k",
            sumsub_base_url="http://127.0.0.1:9",
        ),
    )


@pytest.fixture
def client(settings_: Settings) -> Iterator[falcon.testing.TestClient]:
    system = System(settings_)
    yield falcon.testing.TestClient(create_app(system))
    system.close()


def fine(got: falcon.testing.Result) -> None:
    assert got.status_code < 500 or got.status_code in (502, 503), (got.status_code, got.text)
    if got.status_code >= 400:
        assert got.json["success"] is False


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies, segment=segments)
def test_bodies_and_paths_never_fail_with_500(client: falcon.testing.TestClient, body: dict, segment: str) -> None:
    fine(client.simulate_post(f"/idx/wallets/{WALLET.address}/points/add", json=body, remote_addr="127.0.0.1"))
    fine(client.simulate_post(f"/idx/wallets/{segment}/points/add", json=body, remote_addr="127.0.0.1"))
    fine(client.simulate_get(f"/idx/points/leaderboard/{segment}"))
    fine(client.simulate_post(f"/idx/referrals/{segment}/stats", json=body))
    fine(client.simulate_post(f"/idx/wallets/{segment}/referral", json=body))
    fine(client.simulate_post(f"/idx/kyc/initiate/{WALLET.address}", json=body))
    fine(client.simulate_get(f"/idx/api/kyc/status/{segment}"))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies)
def test_signed_webhooks_of_any_shape_never_fail_with_500(client: falcon.testing.TestClient, body: dict) -> None:
    raw = json.dumps(body).encode()
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    got = client.simulate_post(
        "/idx/kyc/webhook", body=raw, headers={"Content-Type": "application/json", "X-Payload-Digest": digest}
    )
    fine(got)
