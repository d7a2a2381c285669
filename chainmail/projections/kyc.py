"""The `kyc_applications` and `kyc_results` read models: each wallet's KYC application, its status and
retries, and the verdict per verification level."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Connection, DateTime, Index, Integer, String, Table, insert, select, update

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.kyc import KycApplication
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

kyc_applications = Table(
    "kyc_applications",
    metadata,
    Column("wallet", String(64), primary_key=True),
    Column("chain_type", String(8), nullable=False),
    Column("application_id", String(36), nullable=False),
    Column("applicant_id", String(64), nullable=False),
    Column("level", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("retry_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "application_id", unique=True),
)

kyc_results = Table(
    "kyc_results",
    metadata,
    Column("wallet", String(64), primary_key=True),
    Column("level", String(16), primary_key=True),
    Column("answer", String(8), nullable=False),  # GREEN | RED | YELLOW
    Column("verified", Boolean, nullable=False),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
)


class KycProjection(Projection):
    name = "kyc"
    follows = (Identity,)
    tables = (kyc_applications, kyc_results)

    @handles(KycApplication.Initiated)
    def initiated(self, tx: Connection, e: Any) -> None:
        tx.execute(
            insert(self.t.kyc_applications).values(
                wallet=e.wallet,
                chain_type=e.chain_type,
                application_id=e.application_id,
                applicant_id=e.applicant_id,
                level=e.level,
                status="INITIATED",
                retry_count=0,
                created_at=e.at,
                updated_at=e.at,
            )
        )

    @handles(KycApplication.LevelRequested)
    def level_requested(self, tx: Connection, e: Any) -> None:
        t = self.t.kyc_applications
        tx.execute(update(t).where(t.c.wallet == e.wallet).values(level=e.level, status=e.status, updated_at=e.at))

    @handles(KycApplication.Reviewed)
    def reviewed(self, tx: Connection, e: Any) -> None:
        t = self.t.kyc_applications
        wallet = e.wallet
        tx.execute(
            update(t).where(t.c.wallet == wallet).values(status=e.status, retry_count=e.retry_count, updated_at=e.at)
        )
        if e.answer is None:
            return
        r = self.t.kyc_results
        values = {
            "answer": e.answer,
            "verified": e.answer == "GREEN",
            "verified_at": e.at if e.answer == "GREEN" else None,
            "expires_at": e.verified_until,
        }
        changed = tx.execute(update(r).where(r.c.wallet == wallet, r.c.level == e.level).values(**values))
        if changed.rowcount == 0:
            tx.execute(insert(r).values(wallet=wallet, level=e.level, **values))


def application_of(conn: Connection, wallet: str) -> dict[str, Any] | None:
    row = conn.execute(select(kyc_applications).where(kyc_applications.c.wallet == wallet)).first()
    return dict(row._mapping) if row is not None else None


def results_of(conn: Connection, wallet: str) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(select(kyc_results).where(kyc_results.c.wallet == wallet))]
