"""The `addresses` read model: every live address and the user it delivers to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    String,
    Table,
    delete,
    insert,
    select,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.addresses import Address
from chainmail.domain.mail.application import Mail
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

addresses = Table(
    "addresses",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("user_id", String(24), nullable=False),
    Column("address", String(320), nullable=False),
    Column("addrview", String(320), nullable=False),
    Column("name", String(256), nullable=True),
    Column("main", Boolean, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "addrview", unique=True),
    Index(None, "user_id"),
)


class AddressesProjection(Projection):
    name = "addresses"
    follows = (Mail,)
    tables = (addresses,)

    @handles(Address.Created)
    def created(self, tx: Connection, e: Address.Created) -> None:
        tx.execute(
            insert(self.t.addresses).values(
                id=e.address_id,
                user_id=e.user_id,
                address=e.address,
                addrview=e.addrview,
                name=e.name or None,
                main=e.main,
                tags=e.tags,
                created=e.created_at,
            )
        )

    @handles(Address.Deleted)
    def deleted(self, tx: Connection, e: Address.Deleted) -> None:
        tx.execute(delete(self.t.addresses).where(self.t.addresses.c.id == object_id_of(e.originator_id)))


def user_addresses(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    query = select(addresses).where(addresses.c.user_id == user_id).order_by(addresses.c.addrview)
    return [dict(row._mapping) for row in conn.execute(query)]


def resolve_address(conn: Connection, addrview: str) -> str | None:
    query = select(addresses.c.user_id).where(addresses.c.addrview == addrview)
    return conn.execute(query).scalar_one_or_none()
