"""The `wallet_logins` and `referral_consumptions` read models: when each wallet signed in, how often,
and the referral code that brought it (what referral statistics count)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, DateTime, Index, Integer, String, Table, func, insert, select, update

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.wallets import Login, WalletAccount
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

wallet_logins = Table(
    "wallet_logins",
    metadata,
    Column("wallet", String(64), primary_key=True),
    Column("chain_type", String(8), nullable=False),
    Column("first_authenticated_at", DateTime(timezone=True), nullable=False),
    Column("last_authenticated_at", DateTime(timezone=True), nullable=False),
    Column("last_via", String(16), nullable=False),
    Column("logins", Integer, nullable=False),
)

referral_consumptions = Table(
    "referral_consumptions",
    metadata,
    Column("wallet", String(64), primary_key=True),
    Column("chain_type", String(8), nullable=False),
    Column("referral_code", String(64), nullable=False),
    Column("consumed_at", DateTime(timezone=True), nullable=False),
    Index(None, "referral_code", "consumed_at"),
)


class WalletLoginsProjection(Projection):
    name = "wallet_logins"
    follows = (Identity,)
    tables = (wallet_logins, referral_consumptions)

    def serial_keys(self, event: Any) -> Iterable[str]:
        # Every sign-in is an aggregate of its own, merged into its wallet's row: sign-ins of one wallet
        # commit one after the other, in the order a replay folds them.
        if isinstance(event, Login.Recorded):
            yield f"wallet_logins:{event.wallet}"

    @handles(Login.Recorded)
    def login_recorded(self, tx: Connection, e: Login.Recorded) -> None:
        t = self.t.wallet_logins
        changed = tx.execute(
            update(t)
            .where(t.c.wallet == e.wallet)
            .values(last_authenticated_at=e.at, last_via=e.via, logins=t.c.logins + 1)
        )
        if changed.rowcount == 0:
            tx.execute(
                insert(t).values(
                    wallet=e.wallet,
                    chain_type=e.chain_type,
                    first_authenticated_at=e.at,
                    last_authenticated_at=e.at,
                    last_via=e.via,
                    logins=1,
                )
            )

    @handles(WalletAccount.ReferralConsumed)
    def referral_consumed(self, tx: Connection, e: Any) -> None:
        tx.execute(
            insert(self.t.referral_consumptions).values(
                wallet=e.wallet, chain_type=e.chain_type, referral_code=e.code, consumed_at=e.at
            )
        )


# -- queries ------------------------------------------------------------------------------------


def login_of(conn: Connection, wallet: str) -> dict[str, Any] | None:
    row = conn.execute(select(wallet_logins).where(wallet_logins.c.wallet == wallet)).first()
    return dict(row._mapping) if row is not None else None


def consumptions_of(conn: Connection, referral_code: str) -> list[dict[str, Any]]:
    """The wallets a referral code brought, oldest first."""
    t = referral_consumptions
    query = select(t).where(t.c.referral_code == referral_code).order_by(t.c.consumed_at, t.c.wallet)
    return [dict(row._mapping) for row in conn.execute(query)]


def signed_in_among(conn: Connection, wallets: list[str]) -> set[str]:
    """Which of `wallets` have signed in at least once."""
    if not wallets:
        return set()
    t = wallet_logins
    return {row.wallet for row in conn.execute(select(t.c.wallet).where(t.c.wallet.in_(wallets)))}


def consumption_count(conn: Connection, referral_code: str) -> int:
    t = referral_consumptions
    return int(conn.execute(select(func.count()).where(t.c.referral_code == referral_code)).scalar_one())


def first_authenticated(conn: Connection, wallet: str) -> datetime | None:
    row = login_of(conn, wallet)
    return row["first_authenticated_at"] if row else None
