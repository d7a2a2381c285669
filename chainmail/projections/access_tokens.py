"""The `access_tokens` read model: live user tokens by SHA-256, for the token check on every request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.access_tokens import AccessToken
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.users import User
from chainmail.projections.projection import Projection, handles
from chainmail.projections.users import users
from chainmail.store.schema import metadata

access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", String(36), primary_key=True),  # the aggregate id, which later events name
    Column("token_hash", String(64), nullable=False),
    Column("user_id", String(24), nullable=False),
    Column("role", String(32), nullable=False),
    Column("ttl", BigInteger, nullable=False),
    Column("auth_version", Integer, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("last_used", DateTime(timezone=True), nullable=False),
    Index(None, "token_hash", unique=True),
    Index(None, "user_id"),
)


class AccessTokensProjection(Projection):
    name = "access_tokens"
    follows = (Mail,)
    tables = (access_tokens,)

    @handles(AccessToken.Issued)
    def issued(self, tx: Connection, e: AccessToken.Issued) -> None:
        tx.execute(
            insert(self.t.access_tokens).values(
                id=str(e.originator_id),
                token_hash=e.token_hash,
                user_id=e.user_id,
                role=e.role,
                ttl=e.ttl,
                auth_version=e.auth_version,
                created=e.created_at,
                last_used=e.created_at,
            )
        )

    @handles(AccessToken.Used)
    def used(self, tx: Connection, e: AccessToken.Used) -> None:
        t = self.t.access_tokens
        tx.execute(update(t).where(t.c.id == str(e.originator_id)).values(last_used=e.used_at))

    @handles(AccessToken.Renewed)
    def renewed(self, tx: Connection, e: AccessToken.Renewed) -> None:
        t = self.t.access_tokens
        tx.execute(
            update(t).where(t.c.id == str(e.originator_id)).values(auth_version=e.auth_version, last_used=e.renewed_at)
        )

    @handles(AccessToken.Revoked)
    def revoked(self, tx: Connection, e: AccessToken.Revoked) -> None:
        tx.execute(delete(self.t.access_tokens).where(self.t.access_tokens.c.id == str(e.originator_id)))

    @handles(User.Deleted)
    def user_deleted(self, tx: Connection, e: User.Deleted) -> None:
        t = self.t.access_tokens
        tx.execute(delete(t).where(t.c.user_id == object_id_of(e.originator_id)))


def get_token(conn: Connection, hashed: str) -> dict[str, Any] | None:
    row = conn.execute(select(access_tokens).where(access_tokens.c.token_hash == hashed)).first()
    return dict(row._mapping) if row else None


def token_and_auth_version(conn: Connection, hashed: str) -> tuple[dict[str, Any], int] | None:
    """A live token with its account's current `authVersion` (one query; None for no token or no account)."""
    query = (
        select(access_tokens, users.c.profile)
        .join(users, users.c.id == access_tokens.c.user_id)
        .where(access_tokens.c.token_hash == hashed)
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    token = dict(row._mapping)
    profile = token.pop("profile") or {}
    return token, int(profile.get("authVersion") or 1)
