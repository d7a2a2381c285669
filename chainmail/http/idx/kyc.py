"""KYC with Sumsub on the indexer API, at `/kyc/...` and `/api/kyc/...`: initiate (signed; creates the
Sumsub applicant and an SDK access token), status (signed) and Sumsub's webhook (its HMAC digest).
All answer 503 KYC_DISABLED unless `kyc.enabled`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import falcon
from pydantic import BaseModel, ConfigDict, Field

from chainmail.domain.identity.kyc import LEVELS, KycReview
from chainmail.domain.identity.signatures import parse_wallet
from chainmail.http.bodies import loads_json, read_body
from chainmail.http.errors import IndexerError
from chainmail.http.idx.signature import envelope, identity_of, path_wallet, rate_limited, signed_wallet
from chainmail.http.params import refuse_bad_text
from chainmail.http.router import Router
from chainmail.http.validation import indexer_body
from chainmail.identity.sumsub import KycSettings, Sumsub, SumsubUnavailable, kyc_settings, webhook_is_authentic
from chainmail.projections import kyc as kyc_model
from chainmail.system import System

MAX_WEBHOOK_BYTES = 1024 * 1024


class InitiateBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    verificationLevel: Literal["basic", "enhanced", "accredited"]


class ReviewResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reviewAnswer: Annotated[str | None, Field(max_length=16)] = None
    reviewRejectType: Annotated[str | None, Field(max_length=16)] = None


class SumsubWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Annotated[str, Field(min_length=1, max_length=64)]
    applicantId: Annotated[str, Field(min_length=1, max_length=64)]
    externalUserId: Annotated[str, Field(min_length=1, max_length=128)]
    correlationId: Annotated[str, Field(min_length=1, max_length=128)]
    levelName: Annotated[str | None, Field(max_length=128)] = None
    reviewStatus: Annotated[str | None, Field(max_length=32)] = None
    reviewResult: ReviewResult | None = None


class Kyc:
    """What the KYC routes share: the settings, and the Sumsub client when it is configured."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.settings: KycSettings = kyc_settings(system.settings)

    def require_enabled(self) -> None:
        if not self.settings.enabled:
            raise IndexerError(503, "KYC_DISABLED", "KYC verification is not enabled")

    def sumsub(self) -> Sumsub:
        s = self.settings
        if not (s.sumsub_app_token and s.sumsub_secret_key):
            raise IndexerError(503, "KYC_NOT_CONFIGURED", "KYC verification is not configured")
        return Sumsub(s.sumsub_base_url, s.sumsub_app_token, s.sumsub_secret_key, timeout=s.timeout)


class InitiateResource:
    def __init__(self, kyc: Kyc) -> None:
        self.kyc = kyc

    def on_post(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        self.kyc.require_enabled()
        wallet = path_wallet(walletAddress)
        identity = identity_of(self.kyc.system)
        signed_wallet(req, identity, wallet)
        body = indexer_body(InitiateBody, req.context.params)
        rate_limited(self.kyc.system, f"kyc:{wallet.address}")
        level = body.verificationLevel
        level_name = self.kyc.settings.levels.get(level, level)
        sumsub = self.kyc.sumsub()
        existing = identity.kyc_application(wallet)
        try:
            applicant = existing.applicant_id if existing else sumsub.create_applicant(wallet.address, level_name)
            token = sumsub.sdk_access_token(wallet.address, level_name, self.kyc.settings.access_token_ttl)
        except SumsubUnavailable as error:
            raise IndexerError(502, "SUMSUB_UNAVAILABLE", str(error)) from None
        application = identity.start_kyc(wallet, level, applicant)
        resp.media = envelope(
            {
                "applicationId": application.application_id,
                "sumsubAccessToken": token,
                "status": application.status,
                "verificationLevel": level,
                "walletAddress": wallet.address,
                "chainType": wallet.chain_type,
            }
        )


def _result(row: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"verified": row["verified"], "status": row["answer"]}
    if row["verified_at"] is not None:
        result["verifiedAt"] = row["verified_at"]
    if row["expires_at"] is not None:
        result["subscriptionExpiresAt"] = row["expires_at"]
    return result


class StatusResource:
    def __init__(self, kyc: Kyc) -> None:
        self.kyc = kyc

    def on_get(self, req: falcon.Request, resp: falcon.Response, walletAddress: str) -> None:
        self.kyc.require_enabled()
        wallet = path_wallet(walletAddress)
        signed_wallet(req, identity_of(self.kyc.system), wallet, allow_delegate=True)
        with self.kyc.system.engine.connect() as conn:
            application = kyc_model.application_of(conn, wallet.address)
            results = kyc_model.results_of(conn, wallet.address)
        if application is None:
            raise IndexerError(404, "KYC_NOT_FOUND", "This wallet has not started KYC verification")
        remaining = max(0, self.kyc.settings.max_retries - application["retry_count"])
        final = application["status"] in ("COMPLETED", "REJECTED")
        resp.media = envelope(
            {
                "applicationId": application["application_id"],
                "walletAddress": wallet.address,
                "chainType": wallet.chain_type,
                "verificationLevel": application["level"],
                "status": application["status"],
                "results": {row["level"]: _result(row) for row in results if row["level"] in LEVELS},
                "canRetry": not final and remaining > 0,
                "retriesRemaining": remaining,
                "createdAt": application["created_at"],
                "updatedAt": application["updated_at"],
            }
        )


class WebhookResource:
    raw_body = True  # the digest is over the exact bytes Sumsub sent

    def __init__(self, kyc: Kyc) -> None:
        self.kyc = kyc

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.kyc.require_enabled()
        secret = self.kyc.settings.sumsub_webhook_secret
        if not secret:
            raise IndexerError(503, "KYC_NOT_CONFIGURED", "The Sumsub webhook secret is not configured")
        raw = read_body(req, MAX_WEBHOOK_BYTES)
        if raw is None:
            raise IndexerError(413, "PAYLOAD_TOO_LARGE", "Webhook body is too large")
        digest, algorithm = req.get_header("X-Payload-Digest"), req.get_header("X-Payload-Digest-Alg")
        if not webhook_is_authentic(secret, raw, digest, algorithm):
            raise IndexerError(401, "INVALID_WEBHOOK_SIGNATURE", "The payload digest does not match")
        try:
            payload = loads_json(raw)
        except (ValueError, UnicodeDecodeError):
            raise IndexerError(400, "INVALID_JSON", "Webhook body is not JSON") from None
        if not isinstance(payload, dict):
            raise IndexerError(400, "INVALID_JSON", "Webhook body must be a JSON object")
        refuse_bad_text(payload, indexer=True)
        hook = indexer_body(SumsubWebhook, payload)
        wallet = parse_wallet(hook.externalUserId)
        applied = False
        if wallet is not None:
            by_name = {name: ours for ours, name in self.kyc.settings.levels.items()}
            result = hook.reviewResult or ReviewResult()
            review = KycReview(
                correlation_id=hook.correlationId,
                kind=hook.type,
                applicant_id=hook.applicantId,
                level=by_name.get(hook.levelName or "") or None,
                review_answer=result.reviewAnswer,
                reject_type=result.reviewRejectType,
            )
            applied = identity_of(self.kyc.system).record_kyc_review(
                wallet, review, max_retries=self.kyc.settings.max_retries
            )
        resp.media = envelope({"success": True, "applied": applied})


def add_routes(idx: Router, system: System) -> None:
    kyc = Kyc(system)
    # The seed's `/api/kyc/...` and the client docs' `/kyc/...`, each also under the indexer's `/api` mount.
    for prefix in ("/kyc", "/api/kyc", "/api/api/kyc"):
        idx.add(f"{prefix}/initiate/{{walletAddress}}", InitiateResource(kyc))
        idx.add(f"{prefix}/status/{{walletAddress}}", StatusResource(kyc))
        idx.add(f"{prefix}/webhook", WebhookResource(kyc))
