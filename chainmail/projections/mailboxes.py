"""The `mailboxes` read model: each user's folders with their IMAP state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    update,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.mailboxes import Mailbox
from chainmail.projections.projection import BatchedWrites, Projection, handles
from chainmail.store.prepared import Prepared
from chainmail.store.schema import metadata

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("user_id", String(24), nullable=False),
    Column("path", Text, nullable=False),
    Column("special_use", String(32), nullable=True),
    Column("uid_validity", BigInteger, nullable=False),
    Column("uid_next", BigInteger, nullable=False),
    Column("modify_index", BigInteger, nullable=False),
    Column("subscribed", Boolean, nullable=False),
    Column("hidden", Boolean, nullable=False),
    Column("encrypt_messages", Boolean, nullable=False, server_default="0"),
    # message counters, kept by the message events (WildDuck caches them too)
    Column("total", BigInteger, nullable=False, server_default="0"),
    Column("unseen", BigInteger, nullable=False, server_default="0"),
    Column("size", BigInteger, nullable=False, server_default="0"),
    Column("retention", BigInteger, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "user_id"),
)


class MailboxesProjection(Projection):
    name = "mailboxes"
    follows = (Mail,)
    tables = (mailboxes,)

    @handles(Mailbox.Created)
    def created(self, tx: BatchedWrites, e: Mailbox.Created) -> None:
        tx.insert(
            self.t.mailboxes,
            {
                "id": e.mailbox_id,
                "user_id": e.user_id,
                "path": e.path,
                "special_use": e.special_use,
                "uid_validity": e.uid_validity,
                "uid_next": 1,
                "modify_index": 0,
                "subscribed": True,
                "hidden": False,
                "encrypt_messages": False,
                "retention": e.retention,
                "created": e.created_at,
            },
        )

    def _set(self, tx: Connection, e: Any, **values: Any) -> None:
        t = self.t.mailboxes
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(**values))

    @handles(Mailbox.Renamed)
    def renamed(self, tx: Connection, e: Any) -> None:
        self._set(tx, e, path=e.path, modify_index=self.t.mailboxes.c.modify_index + 1)

    @handles(Mailbox.Updated)
    def updated(self, tx: Connection, e: Any) -> None:
        values = {k: v for k, v in e.changes.items() if k in ("subscribed", "hidden", "encrypt_messages", "retention")}
        self._set(tx, e, modify_index=self.t.mailboxes.c.modify_index + 1, **values)

    @handles(Mailbox.Deleted)
    def deleted(self, tx: Connection, e: Any) -> None:
        tx.execute(delete(self.t.mailboxes).where(self.t.mailboxes.c.id == object_id_of(e.originator_id)))

    # The message handlers run on every upload and flag change: their statements are built once.

    @handles(Mailbox.MessagesAppended)
    def appended(self, tx: Connection, e: Any) -> None:
        if e.messages:
            params = {
                "uid_next": e.messages[-1]["uid"] + 1,
                "unseen": sum(1 for m in e.messages if "\\Seen" not in m["flags"]),
                "size": sum(int(m["size"]) for m in e.messages),
            }
            self._counted(tx, e, "appended", total=len(e.messages), **params)

    @handles(Mailbox.MessagesFlagged)
    def flagged(self, tx: Connection, e: Any) -> None:
        delta = 0
        for change in e.changes:
            was_seen, is_seen = "\\Seen" in change.get("previous", []), "\\Seen" in change["flags"]
            delta += (1 if was_seen and not is_seen else 0) - (1 if is_seen and not was_seen else 0)
        self._counted(tx, e, "flagged", total=0, unseen=delta, size=0)

    @handles(Mailbox.MessagesRemoved)
    def removed(self, tx: Connection, e: Any) -> None:
        total, unseen = -len(e.removed), -sum(1 for r in e.removed if not r.get("seen", True))
        self._counted(tx, e, "removed", total=total, unseen=unseen, size=-sum(int(r["size"]) for r in e.removed))

    @handles(Mailbox.MessagesMetaChanged)
    def modified(self, tx: Connection, e: Any) -> None:
        self._counted(tx, e, "modified", total=0, unseen=0, size=0)

    def _counted(self, tx: Connection, e: Any, key: str, *, uid_next: int | None = None, **deltas: int) -> None:
        """The folder's modify index becomes the event's; its counters move by `deltas` (and `uid_next`)."""

        def build(t: Any) -> Any:
            c = t.mailboxes.c
            values: dict[str, Any] = {"modify_index": bindparam("modseq")}
            values.update({name: c[name] + bindparam(f"d_{name}") for name in ("total", "unseen", "size")})
            if uid_next is not None:
                values["uid_next"] = bindparam("v_uid_next")
            return update(t.mailboxes).where(c.id == bindparam("mailbox")).values(**values)

        params = {"mailbox": object_id_of(e.originator_id), "modseq": e.modseq}
        params.update({f"d_{name}": delta for name, delta in deltas.items()})
        if uid_next is not None:
            params["v_uid_next"] = uid_next
        self.prepared(key, build).run(tx, params)


def user_mailboxes(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    query = select(mailboxes).where(mailboxes.c.user_id == user_id).order_by(mailboxes.c.path)
    return [dict(row._mapping) for row in conn.execute(query)]


_MAILBOX = Prepared(
    select(mailboxes).where(mailboxes.c.user_id == bindparam("user"), mailboxes.c.id == bindparam("mailbox"))
)


def mailbox_read(user_id: str, mailbox_id: str) -> tuple[Prepared, dict[str, Any]]:
    """The select of a user's folder, to send with others (`store.prepared.read_together`)."""
    return _MAILBOX, {"user": user_id, "mailbox": mailbox_id}


def get_mailbox(conn: Connection, user_id: str, mailbox_id: str) -> dict[str, Any] | None:
    return _MAILBOX.first(conn, {"user": user_id, "mailbox": mailbox_id})


def mailbox_by_path(conn: Connection, user_id: str, path: str) -> dict[str, Any] | None:
    row = conn.execute(select(mailboxes).where(mailboxes.c.user_id == user_id, mailboxes.c.path == path)).first()
    return dict(row._mapping) if row else None


_SPECIAL_MAILBOX = Prepared(
    select(mailboxes)
    .where(mailboxes.c.user_id == bindparam("user"), mailboxes.c.special_use == bindparam("special_use"))
    .order_by(mailboxes.c.created)
    .limit(1)
)


def special_mailbox_read(user_id: str, special_use: str) -> tuple[Prepared, dict[str, Any]]:
    """The select of a user's first folder of a special use (`\\Sent`, `\\Drafts`, ...), to send with others
    (`store.prepared.read_together`)."""
    return _SPECIAL_MAILBOX, {"user": user_id, "special_use": special_use}


def special_mailbox(conn: Connection, user_id: str, special_use: str) -> dict[str, Any] | None:
    return _SPECIAL_MAILBOX.first(conn, {"user": user_id, "special_use": special_use})


_COUNT_AND_SETTINGS: dict[str, Prepared] = {}


def count_and_settings_read(conn: Connection | Engine, user_id: str) -> tuple[Prepared, dict[str, Any]]:
    """The select of how many folders a user has (`count`) beside every administrator setting (`_settings`,
    as `settings.from_all_settings` takes it): what the folder limit is decided on, to send with the turn."""
    from sqlalchemy import func

    from chainmail.projections.settings import all_settings_column

    query = _COUNT_AND_SETTINGS.get(conn.dialect.name)
    if query is None:
        counted = select(func.count()).where(mailboxes.c.user_id == bindparam("user")).scalar_subquery()
        query = Prepared(select(counted.label("count"), all_settings_column(conn).label("_settings")))
        _COUNT_AND_SETTINGS[conn.dialect.name] = query
    return query, {"user": user_id}
