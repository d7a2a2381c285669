"""The `oauth_grants` read model: who (wallet) gave which client access, when, how many tokens were
issued under it, and when and why it ended — the auditor's view of the OAuth provider."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, DateTime, Index, Integer, String, Table, insert, select, update

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.oauth import Grant
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

oauth_grants = Table(
    "oauth_grants",
    metadata,
    Column("grant_id", String(36), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("wallet", String(64), nullable=False),
    Column("chain_type", String(8), nullable=False),
    Column("scope", String(512), nullable=False),
    Column("privacy", String(16), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("access_tokens", Integer, nullable=False),
    Column("refresh_rotations", Integer, nullable=False),
    Column("last_token_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoke_reason", String(128), nullable=True),
    Index(None, "wallet", "granted_at"),
    Index(None, "client_id", "granted_at"),
)


class OAuthGrantsProjection(Projection):
    name = "oauth_grants"
    follows = (Identity,)
    tables = (oauth_grants,)

    def _grant(self, e: Any) -> Any:
        t = self.t.oauth_grants
        return update(t).where(t.c.grant_id == str(e.originator_id))

    @handles(Grant.Granted)
    def granted(self, tx: Connection, e: Any) -> None:
        tx.execute(
            insert(self.t.oauth_grants).values(
                grant_id=str(e.originator_id),
                client_id=e.client_id,
                wallet=e.wallet,
                chain_type=e.chain_type,
                scope=e.scope,
                privacy=e.privacy,
                granted_at=e.at,
                access_tokens=0,
                refresh_rotations=0,
            )
        )

    @handles(Grant.AccessTokenIssued)
    def access_token_issued(self, tx: Connection, e: Any) -> None:
        t = self.t.oauth_grants
        tx.execute(self._grant(e).values(access_tokens=t.c.access_tokens + 1, last_token_at=e.at))

    @handles(Grant.RefreshTokenRotated)
    def refresh_token_rotated(self, tx: Connection, e: Any) -> None:
        t = self.t.oauth_grants
        tx.execute(self._grant(e).values(refresh_rotations=t.c.refresh_rotations + 1))

    @handles(Grant.Revoked)
    def revoked(self, tx: Connection, e: Any) -> None:
        tx.execute(self._grant(e).values(revoked_at=e.at, revoke_reason=e.reason[:128]))


def grants_of(conn: Connection, wallet: str) -> list[dict[str, Any]]:
    t = oauth_grants
    query = select(t).where(t.c.wallet == wallet).order_by(t.c.granted_at, t.c.grant_id)
    return [dict(row._mapping) for row in conn.execute(query)]
