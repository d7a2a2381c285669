"""The `addresses` read model: every live address and the user it delivers to."""

from __future__ import annotations

from dataclasses import dataclass
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
    Text,
    cast,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.addresses import Address
from chainmail.domain.mail.application import Mail
from chainmail.projections.paging import Boundary, Page, keyset_page
from chainmail.projections.projection import BatchedWrites, Projection, handles
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
    Column("forwarded", Boolean, nullable=True),  # a forwarded address: no user, targets instead
    Column("profile", JSON, nullable=True),  # metaData, internalData, targets, forwards, autoreply...
    Index(None, "addrview", unique=True),
    Index(None, "user_id"),
)

address_tags = Table(
    "address_tags",
    metadata,
    Column("address_id", String(24), primary_key=True),
    Column("tag", String(128), primary_key=True),
    Index(None, "tag"),
)


class AddressesProjection(Projection):
    name = "addresses"
    follows = (Mail,)
    tables = (addresses, address_tags)

    @handles(Address.Created)
    def created(self, tx: BatchedWrites, e: Address.Created) -> None:
        tx.insert(
            self.t.addresses,
            {
                "id": e.address_id,
                "user_id": e.user_id,
                "address": e.address,
                "addrview": e.addrview,
                "name": e.name or None,
                "main": e.main,
                "tags": e.tags,
                "created": e.created_at,
            },
        )
        self._tag(tx, e.address_id, e.tags)

    @handles(Address.Deleted)
    def deleted(self, tx: Connection, e: Address.Deleted) -> None:
        tx.execute(delete(self.t.addresses).where(self.t.addresses.c.id == object_id_of(e.originator_id)))
        tx.execute(delete(self.t.address_tags).where(self.t.address_tags.c.address_id == object_id_of(e.originator_id)))

    # -- accounts: changes after creation ------------------------------------------------------

    @handles(Address.Updated)
    def updated(self, tx: Connection, e: Address.Updated) -> None:
        address_id = object_id_of(e.originator_id)
        t = self.t.addresses
        row = tx.execute(select(t.c.profile).where(t.c.id == address_id).with_for_update()).first()
        if row is None:
            return
        profile = dict(row.profile or {})
        values: dict[str, Any] = {}
        for key, value in e.changes.items():
            if key in ("address", "addrview", "forwarded"):
                values[key] = value
            elif key == "name":
                values["name"] = value or None
            elif key == "tags":
                values["tags"] = value
                tx.execute(delete(self.t.address_tags).where(self.t.address_tags.c.address_id == address_id))
                self._tag(tx, address_id, value)
            else:
                profile[key] = value
        tx.execute(update(t).where(t.c.id == address_id).values(profile=profile, **values))

    @handles(Address.Restored)
    def restored(self, tx: Connection, e: Address.Restored) -> None:
        r = e.row
        tx.execute(
            insert(self.t.addresses).values(
                id=r["address_id"],
                user_id=r["user_id"],
                address=r["address"],
                addrview=r["addrview"],
                name=r["name"] or None,
                main=r["main"],
                tags=r["tags"],
                created=r["created_at"],
                forwarded=False,
                profile=r["profile"],
            )
        )
        self._tag(tx, r["address_id"], r["tags"])

    @handles(Address.MainChanged)
    def main_changed(self, tx: Connection, e: Address.MainChanged) -> None:
        t = self.t.addresses
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(main=e.main))

    def _tag(self, tx: Connection, address_id: str, tags: list[str]) -> None:
        unique = sorted({tag.lower() for tag in tags})
        if unique:
            tx.execute(insert(self.t.address_tags), [{"address_id": address_id, "tag": tag} for tag in unique])


def user_addresses(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    query = select(addresses).where(addresses.c.user_id == user_id).order_by(addresses.c.addrview)
    return [dict(row._mapping) for row in conn.execute(query)]


def resolve_address(conn: Connection, addrview: str) -> str | None:
    query = select(addresses.c.user_id).where(addresses.c.addrview == addrview)
    return conn.execute(query).scalar_one_or_none()


# -- accounts: address listings and lookups -----------------------------------------------------


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class AddressFilter:
    query: str | None = None
    forward: str | None = None
    tags: tuple[str, ...] = ()  # at least one of these
    required_tags: tuple[str, ...] = ()  # all of these
    only_user: str | None = None  # listing as a user token: own addresses only


def _where(f: AddressFilter) -> list[Any]:
    clauses: list[Any] = []
    if f.query:
        clauses.append(addresses.c.address.like(_like(f.query), escape="\\"))
    if f.forward:
        clauses.append(cast(addresses.c.profile, Text).like(_like(f.forward), escape="\\"))
    if f.tags:
        clauses.append(exists().where(address_tags.c.address_id == addresses.c.id, address_tags.c.tag.in_(f.tags)))
    for tag in f.required_tags:
        clauses.append(exists().where(address_tags.c.address_id == addresses.c.id, address_tags.c.tag == tag))
    if f.only_user is not None:
        clauses.append(addresses.c.user_id == f.only_user)
    return clauses


def count_addresses(conn: Connection, f: AddressFilter) -> int:
    return int(conn.execute(select(func.count()).select_from(addresses).where(*_where(f))).scalar_one())


def list_addresses(
    conn: Connection, f: AddressFilter, *, limit: int, after: Boundary | None, before: Boundary | None
) -> Page:
    query = select(addresses).where(*_where(f))
    return keyset_page(
        conn, query, addresses.c.id, limit=limit, sort_column=addresses.c.addrview, after=after, before=before
    )


def get_address(conn: Connection, address_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(addresses).where(addresses.c.id == address_id)).first()
    return dict(row._mapping) if row else None


def find_address(conn: Connection, addrview: str) -> dict[str, Any] | None:
    row = conn.execute(select(addresses).where(addresses.c.addrview == addrview)).first()
    return dict(row._mapping) if row else None


def addresses_in_domain(conn: Connection, domain: str) -> list[str]:
    query = select(addresses.c.id).where(
        addresses.c.addrview.like("%@" + domain.replace("%", "").replace("_", "\\_"), escape="\\")
    )
    return [row.id for row in conn.execute(query.order_by(addresses.c.id))]
