"""The `referral_codes` read model: which wallet holds each referral code (what referral statistics and
a wallet's own code are read from; the consumptions are in `wallet_logins.referral_consumptions`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, DateTime, Index, String, Table, func, select

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.referrals import ReferralCode
from chainmail.projections.projection import Projection, handles
from chainmail.projections.wallet_logins import referral_consumptions
from chainmail.store.schema import metadata

referral_codes = Table(
    "referral_codes",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("wallet", String(64), nullable=False),
    Column("chain_type", String(8), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index(None, "wallet", unique=True),  # an index, not a constraint: replay rebuilds indexes under new names
)


class ReferralCodesProjection(Projection):
    name = "referral_codes"
    follows = (Identity,)
    tables = (referral_codes,)

    @handles(ReferralCode.Issued)
    def issued(self, tx: Connection, e: Any) -> None:
        tx.insert(
            self.t.referral_codes, {"code": e.code, "wallet": e.wallet, "chain_type": e.chain_type, "created_at": e.at}
        )


def code_of_wallet(conn: Connection, wallet: str) -> dict[str, Any] | None:
    row = conn.execute(select(referral_codes).where(referral_codes.c.wallet == wallet)).first()
    return dict(row._mapping) if row is not None else None


def code(conn: Connection, referral_code: str) -> dict[str, Any] | None:
    row = conn.execute(select(referral_codes).where(referral_codes.c.code == referral_code)).first()
    return dict(row._mapping) if row is not None else None


def usage(conn: Connection, referral_code: str) -> tuple[int, datetime | None]:
    """How many wallets consumed the code, and when the last one did."""
    t = referral_consumptions
    row = conn.execute(select(func.count(), func.max(t.c.consumed_at)).where(t.c.referral_code == referral_code)).one()
    return int(row[0]), row[1]
