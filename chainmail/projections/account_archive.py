"""The `account_archive` read model: what a deleted account was called and which addresses it had,
so that `GET /users/:user/restore` can say what a restore would bring back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Connection, DateTime, Index, String, Table, delete, insert, select, update

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.addresses import Address
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.users import User
from chainmail.projections.addresses import addresses
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

account_archive = Table(
    "account_archive",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("username", String(128), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("deleted", DateTime(timezone=True), nullable=True),
    Column("delete_after", DateTime(timezone=True), nullable=True),
    Column("task", String(24), nullable=True),
)

account_archive_addresses = Table(
    "account_archive_addresses",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("user_id", String(24), nullable=False),
    Column("address", String(320), nullable=False),
    Column("addrview", String(320), nullable=False),
    Column("live", Boolean, nullable=False),
    Column("with_account", Boolean, nullable=False),  # deleted together with its account
    Index(None, "user_id"),
)


class AccountArchiveProjection(Projection):
    name = "account_archive"
    follows = (Mail,)
    tables = (account_archive, account_archive_addresses)

    @handles(User.Created)
    def created(self, tx: Connection, e: User.Created) -> None:
        tx.execute(insert(self.t.account_archive).values(id=e.user_id, username=e.username, tags=e.tags))

    @handles(User.Updated)
    def updated(self, tx: Connection, e: User.Updated) -> None:
        if "tags" in e.changes:
            t = self.t.account_archive
            tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(tags=e.changes["tags"]))

    @handles(User.Deleted)
    def deleted(self, tx: Connection, e: User.Deleted) -> None:
        t = self.t.account_archive
        tx.execute(
            update(t)
            .where(t.c.id == object_id_of(e.originator_id))
            .values(deleted=e.deleted_at, delete_after=e.delete_after, task=e.task)
        )
        if e.address_ids:
            a = self.t.account_archive_addresses
            tx.execute(update(a).where(a.c.id.in_(e.address_ids)).values(with_account=True))

    @handles(User.DeletionRescheduled)
    def rescheduled(self, tx: Connection, e: User.DeletionRescheduled) -> None:
        t = self.t.account_archive
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(delete_after=e.delete_after))

    @handles(User.Restored)
    def restored(self, tx: Connection, e: User.Restored) -> None:
        t = self.t.account_archive
        values = {"deleted": None, "delete_after": None, "task": None}
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(**values))
        a = self.t.account_archive_addresses
        tx.execute(update(a).where(a.c.user_id == object_id_of(e.originator_id)).values(with_account=False))

    @handles(User.Purged)
    def purged(self, tx: Connection, e: User.Purged) -> None:
        user_id = object_id_of(e.originator_id)
        tx.execute(delete(self.t.account_archive).where(self.t.account_archive.c.id == user_id))
        a = self.t.account_archive_addresses
        tx.execute(delete(a).where(a.c.user_id == user_id))

    @handles(Address.Created)
    def address_created(self, tx: Connection, e: Address.Created) -> None:
        if e.user_id:
            tx.execute(
                insert(self.t.account_archive_addresses).values(
                    id=e.address_id,
                    user_id=e.user_id,
                    address=e.address,
                    addrview=e.addrview,
                    live=True,
                    with_account=False,
                )
            )

    @handles(Address.Updated)
    def address_updated(self, tx: Connection, e: Address.Updated) -> None:
        if "address" in e.changes:
            t = self.t.account_archive_addresses
            values = {"address": e.changes["address"], "addrview": e.changes["addrview"]}
            tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(**values))

    @handles(Address.Deleted)
    def address_deleted(self, tx: Connection, e: Address.Deleted) -> None:
        t = self.t.account_archive_addresses
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(live=False))

    @handles(Address.Restored)
    def address_restored(self, tx: Connection, e: Address.Restored) -> None:
        t = self.t.account_archive_addresses
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(live=True))


def deleted_account(conn: Connection, user_id: str) -> dict[str, Any] | None:
    """A deleted account and the addresses a restore would get back (those nobody else took since)."""
    row = conn.execute(
        select(account_archive).where(account_archive.c.id == user_id, account_archive.c.deleted.is_not(None))
    ).first()
    if row is None:
        return None
    a = account_archive_addresses
    taken = select(addresses.c.id).where(addresses.c.addrview == a.c.addrview).exists()
    query = (
        select(a.c.address)
        .where(a.c.user_id == user_id, a.c.live.is_(False), a.c.with_account.is_(True), ~taken)
        .order_by(a.c.id)
    )
    return {**dict(row._mapping), "recoverable": [r.address for r in conn.execute(query)]}


def due_for_purge(conn: Connection, now: Any, limit: int = 100) -> list[str]:
    """Deleted accounts whose `deleteAfter` has passed: their mail is to be purged."""
    t = account_archive
    query = select(t.c.id).where(t.c.deleted.is_not(None), t.c.delete_after <= now).order_by(t.c.delete_after)
    return [row.id for row in conn.execute(query.limit(limit))]
