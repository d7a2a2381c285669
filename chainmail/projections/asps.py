"""The `asps` read model: each user's application-specific passwords (never the passwords)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.asps import ApplicationPassword
from chainmail.domain.mail.users import User
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

asps = Table(
    "asps",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("user_id", String(24), nullable=False),
    Column("description", Text, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("ttl", BigInteger, nullable=False),
    Column("expires", DateTime(timezone=True), nullable=True),
    Column("used", DateTime(timezone=True), nullable=True),
    Column("auth_event", String(24), nullable=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "user_id"),
)


class AspsProjection(Projection):
    name = "asps"
    follows = (Mail,)
    tables = (asps,)

    @handles(ApplicationPassword.Created)
    def created(self, tx: Connection, e: ApplicationPassword.Created) -> None:
        tx.execute(
            insert(self.t.asps).values(
                id=e.asp_id,
                user_id=e.user_id,
                description=e.description,
                scopes=e.scopes,
                ttl=e.ttl,
                expires=e.expires,
                created=e.created_at,
            )
        )

    @handles(ApplicationPassword.Used)
    def used(self, tx: Connection, e: ApplicationPassword.Used) -> None:
        t = self.t.asps
        tx.execute(
            update(t)
            .where(t.c.id == object_id_of(e.originator_id))
            .values(used=e.used_at, auth_event=e.auth_event, expires=e.expires)
        )

    @handles(ApplicationPassword.Deleted)
    def deleted(self, tx: Connection, e: ApplicationPassword.Deleted) -> None:
        tx.execute(delete(self.t.asps).where(self.t.asps.c.id == object_id_of(e.originator_id)))

    @handles(User.Deleted)
    def user_deleted(self, tx: Connection, e: User.Deleted) -> None:
        tx.execute(delete(self.t.asps).where(self.t.asps.c.user_id == object_id_of(e.originator_id)))


def user_asps(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    query = select(asps).where(asps.c.user_id == user_id).order_by(asps.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]


def get_asp(conn: Connection, user_id: str, asp_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(asps).where(asps.c.user_id == user_id, asps.c.id == asp_id)).first()
    return dict(row._mapping) if row else None
