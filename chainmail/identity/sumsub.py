"""Sumsub, for KYC: settings, a REST client that signs every request as Sumsub requires (X-App-Token,
X-App-Access-Ts, X-App-Access-Sig = hex HMAC-SHA256 of ts + METHOD + path?query + body), and the check of
its webhooks' X-Payload-Digest."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import structlog
from pydantic import BaseModel, Field

log = structlog.get_logger(__name__)


class KycSettings(BaseModel):
    """TOML `[kyc]`, or `CHAINMAIL_KYC` as JSON."""

    enabled: bool = False
    sumsub_base_url: str = "https://api.sumsub.com"
    sumsub_app_token: str | None = None
    sumsub_secret_key: str | None = None
    sumsub_webhook_secret: str | None = None
    # Our verification levels and the Sumsub level names they are created at.
    levels: dict[str, str] = Field(
        default_factory=lambda: {
            "basic": "basic-kyc-level",
            "enhanced": "enhanced-kyc-level",
            "accredited": "accredited-kyc-level",
        }
    )
    access_token_ttl: int = Field(default=1800, ge=60)
    max_retries: int = Field(default=3, ge=0)
    timeout: float = Field(default=10.0, gt=0)


def kyc_settings(settings: Any) -> KycSettings:
    value = getattr(settings, "kyc", None)
    return value if isinstance(value, KycSettings) else KycSettings()


class SumsubUnavailable(Exception):
    """Sumsub could not be asked, or refused (network, 4xx/5xx, unreadable answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# X-Payload-Digest-Alg values and the digest each names.
DIGESTS: dict[str, Callable[..., Any]] = {
    "HMAC_SHA1_HEX": hashlib.sha1,
    "HMAC_SHA256_HEX": hashlib.sha256,
    "HMAC_SHA512_HEX": hashlib.sha512,
}


def request_signature(secret: str, ts: str, method: str, path: str, body: bytes) -> str:
    return hmac.new(secret.encode(), ts.encode() + method.upper().encode() + path.encode() + body, "sha256").hexdigest()


def webhook_is_authentic(secret: str, body: bytes, digest: str | None, algorithm: str | None) -> bool:
    """X-Payload-Digest is the hex HMAC of the raw body under the webhook secret, with the algorithm
    X-Payload-Digest-Alg names (HMAC_SHA256_HEX when absent); compared in constant time."""
    hash_function = DIGESTS.get((algorithm or "HMAC_SHA256_HEX").strip().upper())
    if hash_function is None or not digest:
        return False
    expected = hmac.new(secret.encode(), body, hash_function).hexdigest()
    # as bytes: compare_digest refuses str holding non-ASCII characters, which a header may carry
    return hmac.compare_digest(expected.encode(), digest.strip().lower().encode())


class Sumsub:
    def __init__(
        self,
        base_url: str,
        app_token: str,
        secret_key: str,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url, self.app_token, self.secret_key = base_url.rstrip("/"), app_token, secret_key
        self.timeout, self.clock = timeout, clock

    def _call(self, method: str, path: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        body = json.dumps(payload, separators=(",", ":")).encode() if payload is not None else b""
        ts = str(int(self.clock()))
        headers = {
            "Accept": "application/json",
            "X-App-Token": self.app_token,
            "X-App-Access-Ts": ts,
            "X-App-Access-Sig": request_signature(self.secret_key, ts, method, path, body),
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = httpx.request(method, self.base_url + path, content=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as error:
            raise SumsubUnavailable(f"Sumsub unreachable: {error}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400 or not isinstance(answer, dict):
            log.warning("sumsub refused", status=response.status_code, path=path.split("?", 1)[0])
            raise SumsubUnavailable(f"Sumsub answered {response.status_code}", response.status_code)
        return answer

    def create_applicant(self, external_user_id: str, level_name: str) -> str:
        """A new applicant for the wallet at `level_name` (or the one Sumsub already has for it); its id."""
        try:
            answer = self._call(
                "POST",
                f"/resources/applicants?levelName={quote(level_name, safe='')}",
                {"externalUserId": external_user_id},
            )
        except SumsubUnavailable as error:
            if error.status != 409:
                raise
            # Created before, by a request whose answer was lost: ask for it by our id.
            answer = self._call(
                "GET", f"/resources/applicants/-;externalUserId={quote(external_user_id, safe='')}/one", None
            )
        applicant = answer.get("id")
        if not isinstance(applicant, str) or not applicant:
            raise SumsubUnavailable("Sumsub's applicant has no id")
        return applicant

    def sdk_access_token(self, user_id: str, level_name: str, ttl: int) -> str:
        """A token the Web/Mobile SDK opens the verification flow with."""
        answer = self._call(
            "POST", "/resources/accessTokens/sdk", {"userId": user_id, "levelName": level_name, "ttlInSecs": ttl}
        )
        token = answer.get("token")
        if not isinstance(token, str) or not token:
            raise SumsubUnavailable("Sumsub's access token answer has no token")
        return token
