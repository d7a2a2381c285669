"""KYC with Sumsub on the indexer API, on both stores, against a local server that checks every request's
signature exactly as Sumsub does (X-App-Token, X-App-Access-Ts within a minute, X-App-Access-Sig = hex
HMAC-SHA256 of ts + METHOD + path?query + body) and answers applicant and SDK-token creation; webhooks
signed with X-Payload-Digest move the application through its lifecycle."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.identity.settings import IdentitySettings
from chainmail.identity.sumsub import KycSettings
from chainmail.system import System
from tests.integration.conftest import ROOT_TOKEN
from tests.integration.identity_wallets import EvmWallet, SolanaWallet, Wallet, sign_in_headers
from tests.local_http import QuietHandler, serving

APP_TOKEN = "sbx:app-token-for-tests"
SECRET_KEY = "sumsub-secret-key"
WEBHOOK_SECRET = "sumsub-webhook-secret"


class SumsubServer(QuietHandler):
    """Sumsub's REST API as far as chainmail uses it, refusing requests not signed as Sumsub requires."""

    applicants: dict[str, dict[str, Any]] = {}  # externalUserId -> applicant
    created: list[str] = []
    tokens: list[dict[str, Any]] = []

    def _authorised(self, body: bytes) -> bool:
        token, ts, sig = (self.headers.get(h) for h in ("X-App-Token", "X-App-Access-Ts", "X-App-Access-Sig"))
        if token != APP_TOKEN or not ts or not sig or not ts.isdigit() or abs(time.time() - int(ts)) > 60:
            return False
        expected = hmac.new(
            SECRET_KEY.encode(), ts.encode() + self.command.encode() + self.path.encode() + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, sig)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self) -> None:
        body = self._body()
        if not self._authorised(body):
            self.send_json(401, {"description": "Request signature mismatch", "code": 401, "correlationId": "x"})
            return
        payload = json.loads(body or b"{}")
        if self.path.startswith("/resources/applicants?levelName="):
            external = payload["externalUserId"]
            if external in self.applicants:
                self.send_json(409, {"description": f"Applicant with external user id '{external}' already exists"})
                return
            applicant = {"id": uuid.uuid4().hex[:24], "externalUserId": external, "levelName": self.path.split("=")[1]}
            self.applicants[external] = applicant
            self.created.append(external)
            self.send_json(201, applicant)
        elif self.path == "/resources/accessTokens/sdk":
            self.tokens.append(payload)
            self.send_json(200, {"token": "_act-sbx-" + uuid.uuid4().hex, "userId": payload["userId"]})
        else:
            self.send_json(404, {"description": "Not found"})

    def do_GET(self) -> None:
        if not self._authorised(b""):
            self.send_json(401, {"description": "Request signature mismatch"})
            return
        prefix = "/resources/applicants/-;externalUserId="
        external = self.path[len(prefix) : -len("/one")] if self.path.startswith(prefix) else None
        if external in self.applicants:
            self.send_json(200, self.applicants[external])
        else:
            self.send_json(404, {"description": "Not found"})


@pytest.fixture(scope="module")
def sumsub() -> Iterator[str]:
    with serving(SumsubServer) as url:
        yield url


def kyc_settings(base_url: str, **changes: Any) -> KycSettings:
    values = {
        "enabled": True,
        "sumsub_base_url": base_url,
        "sumsub_app_token": APP_TOKEN,
        "sumsub_secret_key": SECRET_KEY,
        "sumsub_webhook_secret": WEBHOOK_SECRET,
        "max_retries": 2,
        **changes,
    }
    return KycSettings(**values)


def make_settings(database_url: str, kyc: KycSettings) -> Settings:
    return Settings(
        database_url=database_url,
        api_access_token=ROOT_TOKEN,
        email_domain="example.com",
        identity=IdentitySettings(rate_limit_per_minute=1000),
        kyc=kyc,
    )


@pytest.fixture
def settings(database_url: str, sumsub: str) -> Settings:
    return make_settings(database_url, kyc_settings(sumsub))


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    system = System(settings)
    yield system
    system.close()


@pytest.fixture
def client(system: System) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(system))


def initiate(client: falcon.testing.TestClient, wallet: Wallet, level: str = "basic", prefix: str = "/idx/api/kyc"):
    return client.simulate_post(
        f"{prefix}/initiate/{wallet.address}",
        json={"verificationLevel": level},
        headers=sign_in_headers(client, wallet),
    )


def status(client: falcon.testing.TestClient, wallet: Wallet, prefix: str = "/idx/kyc") -> falcon.testing.Result:
    return client.simulate_get(f"{prefix}/status/{wallet.address}", headers=sign_in_headers(client, wallet))


def webhook(
    client: falcon.testing.TestClient,
    payload: dict[str, Any] | bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    alg: str | None = "HMAC_SHA256_HEX",
    digest: str | None = None,
) -> falcon.testing.Result:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    hash_function = {"HMAC_SHA1_HEX": hashlib.sha1, "HMAC_SHA512_HEX": hashlib.sha512}.get(alg or "", hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "X-Payload-Digest": digest or hmac.new(secret.encode(), raw, hash_function).hexdigest(),
    }
    if alg is not None:
        headers["X-Payload-Digest-Alg"] = alg
    return client.simulate_post("/idx/api/kyc/webhook", body=raw, headers=headers)


def review(
    wallet: Wallet,
    kind: str = "applicantReviewed",
    answer: str | None = None,
    reject: str | None = None,
    level: str = "basic-kyc-level",
    correlation: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "applicantId": SumsubServer.applicants[wallet.canonical]["id"],
        "inspectionId": "insp",
        "applicantType": "individual",
        "correlationId": correlation or uuid.uuid4().hex,
        "externalUserId": wallet.canonical,
        "levelName": level,
        "sandboxMode": True,
        "type": kind,
        "reviewStatus": "completed" if kind == "applicantReviewed" else "pending",
        "createdAtMs": "2026-11-25 12:00:00.000",
        "clientId": "client",
    }
    if answer is not None:
        payload["reviewResult"] = {"reviewAnswer": answer, **({"reviewRejectType": reject} if reject else {})}
    return payload


def test_initiating_creates_one_sumsub_applicant_and_hands_out_an_sdk_token(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()

    first = initiate(client, wallet)
    again = initiate(client, wallet, "enhanced", prefix="/idx/kyc")

    assert first.status_code == 200, first.text
    data = first.json["data"]
    assert uuid.UUID(data["applicationId"]).version == 4
    assert data["sumsubAccessToken"].startswith("_act-sbx-")
    assert data["status"] == "INITIATED" and data["verificationLevel"] == "basic"
    assert again.status_code == 200 and again.json["data"]["applicationId"] == data["applicationId"]
    assert again.json["data"]["verificationLevel"] == "enhanced"
    assert SumsubServer.created.count(wallet.canonical) == 1
    assert SumsubServer.tokens[-1] == {"userId": wallet.canonical, "levelName": "enhanced-kyc-level", "ttlInSecs": 1800}
    got = status(client, wallet).json["data"]
    assert got["status"] == "INITIATED" and got["verificationLevel"] == "enhanced" and got["results"] == {}
    assert got["canRetry"] is True and got["retriesRemaining"] == 2


def test_an_applicant_sumsub_already_has_is_found_again(client: falcon.testing.TestClient) -> None:
    wallet = SolanaWallet()
    SumsubServer.applicants[wallet.canonical] = {"id": "existing0000000000000001", "externalUserId": wallet.canonical}

    assert initiate(client, wallet).status_code == 200
    assert webhook(client, review(wallet, answer="GREEN")).json["data"]["applied"] is True


def test_sumsub_reviews_move_the_application_to_completed(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    assert status(client, wallet).status_code == 404
    initiate(client, wallet)

    assert webhook(client, review(wallet, "applicantPending")).status_code == 200
    assert status(client, wallet).json["data"]["status"] == "SUBMITTED"
    done = webhook(client, review(wallet, answer="GREEN"), alg="HMAC_SHA512_HEX")

    assert done.status_code == 200 and done.json["data"] == {"success": True, "applied": True}
    assert status(client, wallet, prefix="/idx/api/api/kyc").status_code == 200
    data = status(client, wallet, prefix="/idx/api/kyc").json["data"]
    assert data["status"] == "COMPLETED" and data["canRetry"] is False
    basic = data["results"]["basic"]
    assert basic["verified"] is True and basic["status"] == "GREEN"
    assert basic["subscriptionExpiresAt"][:4] == str(int(basic["verifiedAt"][:4]) + 1)


def test_rejections_allow_retries_until_they_run_out_or_are_final(client: falcon.testing.TestClient) -> None:
    retrying, final = EvmWallet(), SolanaWallet()
    for wallet in (retrying, final):
        initiate(client, wallet)

    webhook(client, review(retrying, answer="RED", reject="RETRY"))
    first = status(client, retrying).json["data"]
    assert first["status"] == "INITIATED" and first["retriesRemaining"] == 1 and first["canRetry"] is True
    assert first["results"]["basic"] == {"verified": False, "status": "RED"}
    webhook(client, review(retrying, answer="RED", reject="RETRY"))
    webhook(client, review(retrying, answer="RED", reject="RETRY"))
    out = status(client, retrying).json["data"]
    assert out["status"] == "REJECTED" and out["retriesRemaining"] == 0 and out["canRetry"] is False

    webhook(client, review(final, answer="RED", reject="FINAL"))
    assert status(client, final).json["data"]["status"] == "REJECTED"


def test_the_kyc_read_models_rebuild_from_the_events(client: falcon.testing.TestClient, system: System) -> None:
    wallets = [EvmWallet(), SolanaWallet()]
    for wallet in wallets:
        initiate(client, wallet)
    webhook(client, review(wallets[0], answer="GREEN"))
    webhook(client, review(wallets[1], answer="RED", reject="RETRY"))
    before = [status(client, w).json["data"] for w in wallets]

    system.projections.replay("kyc")

    assert [status(client, w).json["data"] for w in wallets] == before


def test_a_repeated_webhook_is_applied_once(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    initiate(client, wallet)
    retry = review(wallet, answer="RED", reject="RETRY", correlation="corr-1")

    first, again = webhook(client, retry), webhook(client, retry)

    assert first.json["data"]["applied"] is True
    assert again.status_code == 200 and again.json["data"] == {"success": True, "applied": False}
    assert status(client, wallet).json["data"]["retriesRemaining"] == 1


@pytest.mark.parametrize(
    ("changes", "status_code", "code"),
    [
        ({"secret": "wrong-secret"}, 401, "INVALID_WEBHOOK_SIGNATURE"),
        ({"digest": "00" * 32}, 401, "INVALID_WEBHOOK_SIGNATURE"),
        ({"alg": "HMAC_MD5_HEX"}, 401, "INVALID_WEBHOOK_SIGNATURE"),
        ({"alg": "HMAC_SHA1_HEX", "digest": "zz"}, 401, "INVALID_WEBHOOK_SIGNATURE"),
    ],
)
def test_webhooks_without_a_valid_digest_get_401_and_change_nothing(
    client: falcon.testing.TestClient, changes: dict, status_code: int, code: str
) -> None:
    wallet = EvmWallet()
    initiate(client, wallet)

    got = webhook(client, review(wallet, answer="GREEN"), **changes)

    assert got.status_code == status_code and got.json["code"] == code and got.json["success"] is False
    assert status(client, wallet).json["data"]["status"] == "INITIATED"


def test_sha1_digests_and_a_missing_algorithm_header_are_accepted(client: falcon.testing.TestClient) -> None:
    wallet = EvmWallet()
    initiate(client, wallet)
    assert webhook(client, review(wallet, "applicantPending"), alg="HMAC_SHA1_HEX").json["data"]["applied"] is True
    assert webhook(client, review(wallet, "applicantOnHold"), alg=None).json["data"]["applied"] is True
    assert status(client, wallet).json["data"]["status"] == "IN_PROGRESS"


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", json.dumps({"type": "applicantReviewed"}).encode(), json.dumps({"applicantId": 5}).encode()],
)
def test_signed_but_malformed_webhooks_get_400(client: falcon.testing.TestClient, body: bytes) -> None:
    got = webhook(client, body)
    assert got.status_code == 400 and got.json["success"] is False


def test_webhooks_for_unknown_wallets_or_applicants_are_acknowledged_and_ignored(
    client: falcon.testing.TestClient,
) -> None:
    wallet = EvmWallet()
    initiate(client, wallet)
    stranger = {**review(wallet, answer="GREEN"), "applicantId": "someone-else"}
    nobody = {**review(wallet, answer="GREEN"), "externalUserId": "not-a-wallet"}

    for payload in (stranger, nobody):
        got = webhook(client, payload)
        assert got.status_code == 200 and got.json["data"]["applied"] is False
    assert status(client, wallet).json["data"]["status"] == "INITIATED"


def test_initiating_needs_the_wallets_signature_and_a_known_level(client: falcon.testing.TestClient) -> None:
    wallet, other = EvmWallet(), EvmWallet()
    path = f"/idx/kyc/initiate/{wallet.address}"

    assert client.simulate_post(path, json={"verificationLevel": "basic"}).status_code == 401
    assert (
        client.simulate_post(
            path, json={"verificationLevel": "basic"}, headers=sign_in_headers(client, other)
        ).status_code
        == 401
    )
    for body in ({}, {"verificationLevel": "platinum"}, {"verificationLevel": 1}):
        got = client.simulate_post(path, json=body, headers=sign_in_headers(client, wallet))
        assert got.status_code == 400 and got.json["code"] == "VALIDATION_ERROR"
    assert client.simulate_get(f"/idx/kyc/status/{wallet.address}").status_code == 401
    assert wallet.canonical not in SumsubServer.created


def test_kyc_answers_503_when_disabled(database_url: str, sumsub: str) -> None:
    system = System(make_settings(database_url, kyc_settings(sumsub, enabled=False)))
    try:
        client = falcon.testing.TestClient(create_app(system))
        wallet = EvmWallet()
        for got in (
            initiate(client, wallet),
            status(client, wallet),
            webhook(client, {"type": "applicantReviewed"}),
        ):
            assert got.status_code == 503 and got.json["code"] == "KYC_DISABLED" and got.json["success"] is False
    finally:
        system.close()


def test_a_sumsub_that_refuses_our_signature_is_a_502(database_url: str, sumsub: str) -> None:
    system = System(make_settings(database_url, kyc_settings(sumsub, sumsub_secret_key="not-the-secret")))
    try:
        client = falcon.testing.TestClient(create_app(system))
        wallet = EvmWallet()
        got = initiate(client, wallet)
        assert got.status_code == 502 and got.json["code"] == "SUMSUB_UNAVAILABLE"
        assert status(client, wallet).status_code == 404
    finally:
        system.close()
