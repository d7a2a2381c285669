"""KYC of a wallet with Sumsub: one application per wallet, its status lifecycle, and the result per
verification level. Sumsub's answers (webhooks) come in as reviews; each is applied once, by its
correlation id. The Sumsub calls themselves happen at the edge; the applicant id they return comes in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event

from chainmail.domain.identity.signatures import Wallet
from chainmail.domain.ids import natural_id

LEVELS = ("basic", "enhanced", "accredited")
# A verification is valid for twelve months (mail_box_types kyc-types).
VALIDITY = timedelta(days=365)

INITIATED, IN_PROGRESS, SUBMITTED, COMPLETED, REJECTED = (
    "INITIATED",
    "IN_PROGRESS",
    "SUBMITTED",
    "COMPLETED",
    "REJECTED",
)
# Sumsub webhook types that move an application without a verdict.
PROGRESS = {
    "applicantCreated": INITIATED,
    "applicantReset": INITIATED,
    "applicantAwaitingUser": IN_PROGRESS,
    "applicantOnHold": IN_PROGRESS,
    "applicantPending": SUBMITTED,
}


@dataclass(frozen=True)
class KycReview:
    """One Sumsub webhook, as the domain needs it."""

    correlation_id: str
    kind: str  # Sumsub's `type`, e.g. applicantReviewed
    applicant_id: str
    level: str | None  # ours (basic|enhanced|accredited), mapped from Sumsub's levelName
    review_answer: str | None  # GREEN | RED | YELLOW
    reject_type: str | None  # RETRY | FINAL


class KycApplication(Aggregate):
    @staticmethod
    def create_id(wallet: str) -> UUID:
        return natural_id("identity:kyc", wallet)

    @event("Initiated")
    def __init__(
        self, wallet: str, chain_type: str, application_id: str, applicant_id: str, level: str, at: datetime
    ) -> None:
        self.wallet, self.chain_type, self.application_id = wallet, chain_type, application_id
        self.applicant_id, self.level, self.created_at = applicant_id, level, at
        self.status, self.retry_count = INITIATED, 0
        self.results: dict[str, dict[str, Any]] = {}
        self.seen: list[str] = []

    def request_level(self, level: str, at: datetime) -> None:
        # A new request while Sumsub reviews the last one leaves the review running.
        status = self.status if self.status in (SUBMITTED, IN_PROGRESS) else INITIATED
        self._level_requested(wallet=self.wallet, level=level, status=status, at=at)

    @event("LevelRequested")
    def _level_requested(self, wallet: str, level: str, status: str, at: datetime) -> None:
        self.level, self.status = level, status

    def review(self, review: KycReview, at: datetime, max_retries: int) -> bool:
        """Apply one Sumsub webhook; False when it was seen before or says nothing about the status."""
        if review.correlation_id in self.seen:
            return False
        level = review.level or self.level
        answer = (review.review_answer or "").upper() or None
        status, retries, verified_until = self.status, self.retry_count, None
        if review.kind == "applicantReviewed":
            if answer == "GREEN":
                status, verified_until = COMPLETED, at + VALIDITY
            elif answer == "RED" and (review.reject_type or "").upper() == "RETRY" and retries < max_retries:
                status, retries = INITIATED, retries + 1
            elif answer == "RED":
                status = REJECTED
            else:
                status = SUBMITTED
        elif review.kind in PROGRESS:
            status = PROGRESS[review.kind]
        else:
            return False
        self._reviewed(
            wallet=self.wallet,
            correlation_id=review.correlation_id,
            kind=review.kind,
            level=level,
            answer=answer,
            reject_type=review.reject_type,
            status=status,
            retry_count=retries,
            verified_until=verified_until,
            at=at,
        )
        return True

    @event("Reviewed")
    def _reviewed(
        self,
        wallet: str,
        correlation_id: str,
        kind: str,
        level: str,
        answer: str | None,
        reject_type: str | None,
        status: str,
        retry_count: int,
        verified_until: datetime | None,
        at: datetime,
    ) -> None:
        self.seen = [*self.seen[-999:], correlation_id]
        self.status, self.retry_count = status, retry_count
        if answer is not None:
            self.results[level] = {
                "answer": answer,
                "verified": answer == "GREEN",
                "verified_at": at if answer == "GREEN" else None,
                "expires_at": verified_until,
            }


class KycCommands:
    """The identity context's KYC commands (mixed into Identity)."""

    def kyc_application(self, wallet: Wallet) -> KycApplication | None:
        try:
            return self.repository.get(KycApplication.create_id(wallet.address))  # type: ignore[attr-defined]
        except AggregateNotFoundError:
            return None

    def start_kyc(self, wallet: Wallet, level: str, applicant_id: str) -> KycApplication:
        """The wallet asks to be verified at `level`; its Sumsub applicant is `applicant_id`."""

        def command() -> KycApplication:
            now = self.clock()  # type: ignore[attr-defined]
            application = self.kyc_application(wallet)
            if application is None:
                application_id = str(uuid.UUID(bytes=self.ids.randbytes(16), version=4))  # type: ignore[attr-defined]
                application = KycApplication(
                    wallet=wallet.address,
                    chain_type=wallet.chain_type,
                    application_id=application_id,
                    applicant_id=applicant_id,
                    level=level,
                    at=now,
                )
            else:
                application.request_level(level=level, at=now)
            self.save(application)  # type: ignore[attr-defined]
            return application

        return self.retrying(command)  # type: ignore[attr-defined]

    def record_kyc_review(self, wallet: Wallet, review: KycReview, *, max_retries: int = 3) -> bool:
        """Apply a Sumsub webhook to the wallet's application; False for a repeat, an unknown wallet or
        applicant. A rejection Sumsub lets the applicant retry sends it back to INITIATED `max_retries` times."""

        def command() -> bool:
            application = self.kyc_application(wallet)
            if application is None or application.applicant_id != review.applicant_id:
                return False
            if not application.review(review, self.clock(), max_retries):  # type: ignore[attr-defined]
                return False
            self.save(application)  # type: ignore[attr-defined]
            return True

        return self.retrying(command)  # type: ignore[attr-defined]
