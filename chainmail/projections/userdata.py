"""Read models of what a user keeps beside messages: `stored_files`, `filters`, `autoreplies`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.mailstore import autoreply_object_id
from chainmail.domain.mail.userdata import Audit, Autoreply, Filter, StoredFile
from chainmail.projections.projection import Projection, handles
from chainmail.store.prepared import Prepared
from chainmail.store.schema import metadata

stored_files = Table(
    "stored_files",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("user_id", String(24), nullable=False),
    Column("filename", Text, nullable=True),
    Column("content_type", Text, nullable=True),
    Column("cid", Text, nullable=True),
    Column("sha256", String(64), nullable=False),
    Column("md5", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "user_id", "filename"),
)

filters = Table(
    "filters",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("user_id", String(24), nullable=False),
    Column("name", Text, nullable=False),
    Column("query", JSON, nullable=False),
    Column("action", JSON, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("meta_data", Text, nullable=True),
    Column("targets", Text, nullable=False),  # forward targets, one per line, for `GET /filters?forward=`
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "user_id"),
)

autoreplies = Table(
    "autoreplies",
    metadata,
    Column("user_id", String(24), primary_key=True),
    Column("id", String(24), nullable=False),
    Column("settings", JSON, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

audits = Table(
    "audits",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("user_id", String(24), nullable=False),
    Column("start", DateTime(timezone=True), nullable=True),
    Column("end", DateTime(timezone=True), nullable=True),
    Column("expires", DateTime(timezone=True), nullable=False),
    Column("copied", BigInteger, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)


def _targets(action: dict[str, Any]) -> str:
    return "\n".join(str(t) for t in action.get("targets") or [])


class UserDataProjection(Projection):
    name = "userdata"
    follows = (Mail,)
    tables = (stored_files, filters, autoreplies, audits)

    @handles(StoredFile.Uploaded)
    def uploaded(self, tx: Connection, e: Any) -> None:
        tx.execute(
            insert(self.t.stored_files).values(
                id=e.file_id,
                user_id=e.user_id,
                filename=e.filename,
                content_type=e.content_type,
                cid=e.cid,
                sha256=e.sha256,
                md5=e.md5,
                size=e.size,
                created=e.created_at,
            )
        )

    @handles(StoredFile.Deleted)
    def file_deleted(self, tx: Connection, e: Any) -> None:
        tx.execute(delete(self.t.stored_files).where(self.t.stored_files.c.id == object_id_of(e.originator_id)))

    @handles(Filter.Created)
    def filter_created(self, tx: Connection, e: Any) -> None:
        tx.execute(
            insert(self.t.filters).values(
                id=e.filter_id,
                user_id=e.user_id,
                name=e.name,
                query=e.query,
                action=e.action,
                disabled=e.disabled,
                meta_data=e.meta_data,
                targets=_targets(e.action),
                created=e.created_at,
            )
        )

    @handles(Filter.Updated)
    def filter_updated(self, tx: Connection, e: Any) -> None:
        values = {k: v for k, v in e.changes.items() if k in ("name", "query", "action", "disabled", "meta_data")}
        if not values:  # an update that changed nothing (such are no longer recorded): no statement to run
            return
        if "action" in values:
            values["targets"] = _targets(values["action"])
        t = self.t.filters
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(**values))

    @handles(Filter.Deleted)
    def filter_deleted(self, tx: Connection, e: Any) -> None:
        tx.execute(delete(self.t.filters).where(self.t.filters.c.id == object_id_of(e.originator_id)))

    @handles(Autoreply.Set)
    def autoreply_set(self, tx: Connection, e: Any) -> None:
        t = self.t.autoreplies
        tx.execute(delete(t).where(t.c.user_id == e.user_id))
        tx.execute(
            insert(t).values(
                user_id=e.user_id, id=autoreply_object_id(e.user_id), settings=e.settings, created=e.created_at
            )
        )

    @handles(Autoreply.Cleared)
    def autoreply_cleared(self, tx: Connection, e: Any) -> None:
        tx.execute(delete(self.t.autoreplies).where(self.t.autoreplies.c.user_id == e.user_id))

    @handles(Audit.Created)
    def audit_created(self, tx: Connection, e: Any) -> None:
        tx.execute(
            insert(self.t.audits).values(
                id=e.audit_id,
                user_id=e.user_id,
                start=e.start,
                end=e.end,
                expires=e.expires,
                copied=e.copied,
                created=e.created_at,
            )
        )


_FILTER_COUNT = Prepared(select(func.count().label("count")).where(filters.c.user_id == bindparam("user")))


def filter_count_read(user_id: str) -> tuple[Prepared, dict[str, Any]]:
    """The select of how many filters a user has, to send with the account's turn."""
    return _FILTER_COUNT, {"user": user_id}


def user_filters(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    query = select(filters).where(filters.c.user_id == user_id).order_by(filters.c.id)
    return [dict(r._mapping) for r in conn.execute(query)]


def get_autoreply(conn: Connection, user_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(autoreplies).where(autoreplies.c.user_id == user_id)).first()
    return dict(row._mapping) if row else None


def get_audit(conn: Connection, audit_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(audits).where(audits.c.id == audit_id)).first()
    return dict(row._mapping) if row else None


def user_file_ids(conn: Connection, user_id: str) -> list[str]:
    query = select(stored_files.c.id).where(stored_files.c.user_id == user_id).order_by(stored_files.c.id)
    return [row.id for row in conn.execute(query)]
