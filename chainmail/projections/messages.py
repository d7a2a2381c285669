"""The `messages` read model (every stored message, by mailbox and UID), the archive of deleted messages,
and the address register fed from message headers; with the queries the API pages and searches with."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Index,
    Select,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chainmail.domain.bounds import BIGINT_MAX
from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.mailboxes import Mailbox
from chainmail.domain.mail.users import User
from chainmail.projections.paging import Boundary, Page, keyset_page, page_of
from chainmail.projections.projection import Projection, handles
from chainmail.store.prepared import Prepared
from chainmail.store.schema import metadata


def _message_columns() -> list[Column[Any]]:
    return [
        Column("user_id", String(24), nullable=False),
        Column("mailbox_id", String(24), nullable=False),
        Column("uid", BigInteger, nullable=False),
        Column("modseq", BigInteger, nullable=False),
        Column("thread", String(24), nullable=False),
        Column("idate", DateTime(timezone=True), nullable=False),
        Column("hdate", DateTime(timezone=True), nullable=True),
        Column("size", BigInteger, nullable=False),
        Column("flags", JSON, nullable=False),
        Column("seen", Boolean, nullable=False),
        Column("flagged", Boolean, nullable=False),
        Column("deleted", Boolean, nullable=False),
        Column("draft", Boolean, nullable=False),
        Column("answered", Boolean, nullable=False),
        Column("forwarded", Boolean, nullable=False),
        Column("blob", String(64), nullable=False),
        Column("msgid", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("from_text", Text, nullable=False),
        Column("to_text", Text, nullable=False),
        Column("body", Text, nullable=False),
        Column("has_attachments", Boolean, nullable=False),
        Column("summary", JSON, nullable=False),
        Column("meta_data", Text, nullable=True),
        Column("expires", DateTime(timezone=True), nullable=True),
    ]


messages = Table(
    "messages",
    metadata,
    Column("id", String(24), primary_key=True),
    *_message_columns(),
    Index(None, "mailbox_id", "uid"),
    Index(None, "mailbox_id", "idate"),
    Index(None, "user_id", "thread"),
    Index(None, "user_id", "msgid"),
    # Only the messages that expire (a folder with a retention time, an upload given an expiry): most never
    # do, and the expiry sweep asks for `expires IS NOT NULL` anyway, so those spare PostgreSQL an index entry.
    Index(None, "expires", postgresql_where=text("expires IS NOT NULL"), sqlite_where=text("expires IS NOT NULL")),
)

archived_messages = Table(
    "archived_messages",
    metadata,
    Column("id", String(24), primary_key=True),  # the archive entry
    Column("message", String(24), nullable=False),
    Column("archived", DateTime(timezone=True), nullable=False),
    *_message_columns(),
    Index(None, "user_id", "archived"),
    Index(None, "archived"),
)

# WildDuck's `threads`: which thread of a user knows a message id (key) under a subject (key).
threads = Table(
    "threads",
    metadata,
    Column("user_id", String(24), primary_key=True),
    Column("subject", String(40), primary_key=True),
    Column("ref", String(40), primary_key=True),
    Column("thread", String(24), nullable=False),
)

REGISTER_TEXT = 320  # characters of an address the register keeps (RFC 5321 allows 254 in a path)
address_register = Table(
    "address_register",
    metadata,
    Column("user_id", String(24), primary_key=True),
    Column("addrview", String(REGISTER_TEXT), primary_key=True),
    Column("address", String(REGISTER_TEXT), nullable=False),
    Column("name", Text, nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default="0"),
)

FLAG_COLUMNS = {
    "seen": "\\Seen",
    "flagged": "\\Flagged",
    "deleted": "\\Deleted",
    "draft": "\\Draft",
}


def utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def to_millisecond(value: Any) -> datetime | None:
    """A date as WildDuck (a JavaScript Date) keeps it: paging cursors carry idate in milliseconds, so a
    finer stored value would put the cursor's own row on the wrong side of it."""
    moment = utc(value)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000) if moment is not None else None


def flag_columns(flags: Sequence[str]) -> dict[str, bool]:
    have = set(flags)
    return {
        **{column: flag in have for column, flag in FLAG_COLUMNS.items()},
        "answered": "\\Answered" in have and "$Forwarded" not in have,
        "forwarded": "$Forwarded" in have,
    }


def message_row(user_id: str, mailbox_id: str, modseq: int, m: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m["message"],
        "user_id": user_id,
        "mailbox_id": mailbox_id,
        "uid": m["uid"],
        "modseq": modseq,
        "thread": m["thread"],
        "idate": to_millisecond(m["idate"]),
        "hdate": utc(m.get("hdate")),
        "size": m["size"],
        "flags": list(m["flags"]),
        **flag_columns(m["flags"]),
        "blob": m["blob"],
        "msgid": m.get("msgid") or "",
        "subject": m.get("subject") or "",
        "from_text": m.get("from_text") or "",
        "to_text": m.get("to_text") or "",
        "body": m.get("body") or "",
        "has_attachments": bool(m.get("attachments")),
        "summary": m.get("summary") or {},
        "meta_data": m.get("meta_data"),
        "expires": utc(m.get("expires")),
    }


def facts_of(row: dict[str, Any]) -> dict[str, Any]:
    """The facts of a stored message, as an append carries them (to move or restore it)."""
    iso = lambda v: utc(v).isoformat() if v is not None else None  # noqa: E731
    return {
        "message": row["id"] if "message" not in row else row["message"],
        "uid": row["uid"],
        "thread": row["thread"],
        "idate": iso(row["idate"]),
        "hdate": iso(row["hdate"]),
        "size": row["size"],
        "flags": list(row["flags"]),
        "blob": row["blob"],
        "msgid": row["msgid"],
        "subject": row["subject"],
        "from_text": row["from_text"],
        "to_text": row["to_text"],
        "body": row["body"],
        "attachments": row["has_attachments"],
        "summary": row["summary"],
        "meta_data": row["meta_data"],
        "expires": iso(row["expires"]),
    }


def _insert_new(tx: Connection, table: Any) -> Any:
    """An insert that leaves a row whose key is already taken as it is."""
    if tx.dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("OR IGNORE")


class MessagesProjection(Projection):
    name = "messages"
    follows = (Mail,)
    tables = (messages, archived_messages, address_register, threads)

    @handles(Mailbox.MessagesAppended)
    def appended(self, tx: Connection, e: Any) -> None:
        mailbox_id = object_id_of(e.originator_id)
        rows = [message_row(e.user_id, mailbox_id, e.modseq, m) for m in e.messages]
        if rows:
            self.prepared("insert message", lambda t: insert(t.messages), rows[0]).run(tx, rows)
        for m in e.messages:
            if m.get("thread_refs"):
                self._thread(tx, e.user_id, m["thread_subject"], m["thread_refs"], m["thread"])
            if m.get("restored_from"):
                tx.execute(delete(self.t.archived_messages).where(self.t.archived_messages.c.id == m["restored_from"]))
            for entry in m.get("register") or []:
                self._register(tx, e.user_id, entry, utc(m["idate"]))

    def _thread(self, tx: Connection, user_id: str, subject: str, refs: list[str], thread: str) -> None:
        # one statement: a key the thread already has (or another thread got first) stays as it is
        new = [{"user_id": user_id, "subject": subject, "ref": r, "thread": thread} for r in dict.fromkeys(refs)]
        if new:
            build = lambda t: _insert_new(tx, t.threads)  # noqa: E731
            self.prepared(f"thread {tx.dialect.name}", build, new[0]).run(tx, new)

    def _register(self, tx: Connection, user_id: str, entry: dict[str, str], when: datetime | None) -> None:
        # one statement: a new address is recorded, a known one takes the name when the message gives one
        def build(t: Any) -> Any:
            table = t.address_register
            upsert = (pg_insert if tx.dialect.name == "postgresql" else sqlite_insert)(table).values(
                user_id=bindparam("user"),
                addrview=bindparam("addrview"),
                address=bindparam("address"),
                name=bindparam("name"),
                updated=bindparam("updated"),
            )
            return upsert.on_conflict_do_update(
                index_elements=[table.c.user_id, table.c.addrview],
                set_={"name": upsert.excluded.name, "updated": upsert.excluded.updated},
                where=upsert.excluded.name != "",
            )

        if len(entry["addrview"]) > REGISTER_TEXT or len(entry["address"]) > REGISTER_TEXT:
            return  # longer than any address can be (RFC 5321): a header no reply can go to is not remembered
        params = {"user": user_id, "addrview": entry["addrview"], "address": entry["address"]}
        params.update(name=entry.get("name") or "", updated=when)
        self.prepared(f"register {tx.dialect.name}", build).run(tx, params)

    @handles(User.AddressRegisterEntryUpdated)
    def register_entry_updated(self, tx: Connection, e: Any) -> None:
        # a message appended later leaves `disabled` as it is (it refreshes the name and the time only)
        values: dict[str, Any] = {"disabled": e.disabled}
        if e.name is not None:
            values["name"] = e.name
        table = self.t.address_register
        tx.execute(update(table).where(table.c.user_id == e.user_id, table.c.addrview == e.addrview).values(**values))

    @handles(Mailbox.MessagesFlagged)
    def flagged(self, tx: Connection, e: Any) -> None:
        def build(t: Any) -> Any:
            c = t.messages.c
            values = {name: bindparam(f"v_{name}") for name in ("flags", "modseq", *flag_columns(()))}
            where = (c.mailbox_id == bindparam("mailbox"), c.uid == bindparam("uid"))
            return update(t.messages).where(*where).values(**values)

        mailbox_id = object_id_of(e.originator_id)
        rows = []
        for change in e.changes:
            values = {"flags": list(change["flags"]), "modseq": e.modseq, **flag_columns(change["flags"])}
            rows.append({"mailbox": mailbox_id, "uid": change["uid"], **{f"v_{k}": v for k, v in values.items()}})
        self.prepared("flag", build).run(tx, rows)

    @handles(Mailbox.MessagesMetaChanged)
    def meta_changed(self, tx: Connection, e: Any) -> None:
        mailbox_id = object_id_of(e.originator_id)
        for change in e.changes:
            values: dict[str, Any] = {"modseq": e.modseq}
            if "meta_data" in change:
                values["meta_data"] = change["meta_data"]
            if "expires" in change:
                values["expires"] = utc(change["expires"])
            tx.execute(
                update(self.t.messages)
                .where(self.t.messages.c.mailbox_id == mailbox_id, self.t.messages.c.uid == change["uid"])
                .values(**values)
            )

    @handles(Mailbox.MessagesRemoved)
    def removed(self, tx: Connection, e: Any) -> None:
        mailbox_id = object_id_of(e.originator_id)
        t = self.t.messages
        uids = [r["uid"] for r in e.removed]
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            where = (t.c.mailbox_id == mailbox_id, t.c.uid.in_(chunk))
            if e.reason == "deleted":
                entries = {r["uid"]: r for r in e.removed}
                for row in tx.execute(select(t).where(*where)).mappings():
                    archived = {k: v for k, v in dict(row).items() if k != "id"}
                    entry = entries.get(row["uid"]) or {}
                    tx.execute(
                        insert(self.t.archived_messages).values(
                            id=entry.get("archive") or row["id"],
                            message=row["id"],
                            # the command's clock (older events carry none: then the recording time)
                            archived=utc(entry.get("archived")) or e.timestamp,
                            **archived,
                        )
                    )
            tx.execute(delete(t).where(*where))

    @handles(Mailbox.Deleted)
    def mailbox_deleted(self, tx: Connection, e: Any) -> None:
        tx.execute(delete(self.t.messages).where(self.t.messages.c.mailbox_id == object_id_of(e.originator_id)))

    @handles(Mailbox.ArchivedMessagesPurged)
    def archive_purged(self, tx: Connection, e: Any) -> None:
        t = self.t.archived_messages
        tx.execute(delete(t).where(t.c.user_id == e.user_id, t.c.id.in_(list(e.entries))))

    @handles(User.Purged)
    def account_purged(self, tx: Connection, e: Any) -> None:
        user_id = object_id_of(e.originator_id)
        for table in (self.t.archived_messages, self.t.address_register, self.t.threads):
            tx.execute(delete(table).where(table.c.user_id == user_id))


# -- queries ----------------------------------------------------------------------------------


_MESSAGE = Prepared(  # every read, flag change or deletion of one message (a client's usual PUT)
    select(messages).where(messages.c.mailbox_id == bindparam("mailbox"), messages.c.uid == bindparam("uid"))
)


def get_message(conn: Connection, mailbox_id: str, uid: int) -> dict[str, Any] | None:
    return _MESSAGE.first(conn, {"mailbox": mailbox_id, "uid": uid})


_IN_FOLDER = messages.c.mailbox_id == bindparam("mailbox")
_MESSAGES_BETWEEN = Prepared(  # a range, `3:15` or `3:*`
    select(messages)
    .where(_IN_FOLDER, messages.c.uid.between(bindparam("low"), bindparam("high")))
    .order_by(messages.c.uid)
)
_MESSAGES_LISTED = {
    # PostgreSQL: the UIDs as one array parameter, so the statement is the same for any list and goes out
    # in a pipeline with the folder's read; SQLite, with no arrays, expands the list into an IN
    "postgresql": Prepared(
        select(messages)
        .where(_IN_FOLDER, messages.c.uid == any_(bindparam("uids", type_=postgresql.ARRAY(BigInteger))))
        .order_by(messages.c.uid)
    ),
    "sqlite": Prepared(
        select(messages)
        .where(_IN_FOLDER, messages.c.uid.in_(bindparam("uids", expanding=True)))
        .order_by(messages.c.uid)
    ),
}
LAST_UID = BIGINT_MAX  # `n:*`: a range's open end, the largest UID the column holds
# what a command that flags, deletes or expires messages needs of each (no summary to decode)
_STATE = (messages.c.uid, messages.c.id, messages.c.size, messages.c.flags, messages.c.expires)
_STATES_LISTED = {
    "postgresql": Prepared(
        select(*_STATE)
        .where(_IN_FOLDER, messages.c.uid == any_(bindparam("uids", type_=postgresql.ARRAY(BigInteger))))
        .order_by(messages.c.uid)
    ),
    "sqlite": Prepared(
        select(*_STATE)
        .where(_IN_FOLDER, messages.c.uid.in_(bindparam("uids", expanding=True)))
        .order_by(messages.c.uid)
    ),
}


def messages_read(
    dialect: str, mailbox_id: str, uids: Sequence[int] | None, low: int | None, high: int | None
) -> tuple[Prepared, dict[str, Any]]:
    """The select of a folder's messages that a range names, in UID order: a UID list (`1,2,3`), or `low:high`
    (`high` None: to the last), to send with others (`store.prepared.read_together`)."""
    if uids is None:
        return _MESSAGES_BETWEEN, {"mailbox": mailbox_id, "low": low or 0, "high": LAST_UID if high is None else high}
    if len(uids) == 1:
        return _MESSAGE, {"mailbox": mailbox_id, "uid": uids[0]}
    return _MESSAGES_LISTED[dialect], {"mailbox": mailbox_id, "uids": list(uids)}


_ARCHIVED = Prepared(select(archived_messages.c.id).where(archived_messages.c.id == bindparam("id")))


def archived_read(entry_id: str) -> tuple[Prepared, dict[str, Any]]:
    """The select of an archive entry's id: a row while the entry is in the archive."""
    return _ARCHIVED, {"id": entry_id}


_STATES_BETWEEN = Prepared(
    select(*_STATE)
    .where(_IN_FOLDER, messages.c.uid.between(bindparam("low"), bindparam("high")))
    .order_by(messages.c.uid)
)


def states_read(
    dialect: str, mailbox_id: str, uids: Sequence[int] | None, low: int | None = None, high: int | None = None
) -> tuple[Prepared, dict[str, Any]]:
    """The select of a folder's messages with what flagging, deleting or expiring them needs (`uid`, `id`,
    `size`, `flags`, `expires`), by UID list, else `low:high` (`high` None: to the last), in UID order."""
    if uids is None:
        return _STATES_BETWEEN, {"mailbox": mailbox_id, "low": low or 0, "high": LAST_UID if high is None else high}
    return _STATES_LISTED[dialect], {"mailbox": mailbox_id, "uids": list(uids)}


def messages_by_uids(conn: Connection, mailbox_id: str, uids: Sequence[int] | None) -> list[dict[str, Any]]:
    """Messages of a folder by UID list (None: all of them), in UID order."""
    prepared, params = messages_read(conn.dialect.name, mailbox_id, uids, 0, None)
    return prepared.rows(conn, params)


def mailbox_counters(conn: Connection, mailbox_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """total, unseen and size per mailbox, as the mailboxes read model keeps them."""
    from chainmail.projections.mailboxes import mailboxes

    result = {m: {"total": 0, "unseen": 0, "size": 0} for m in mailbox_ids}
    query = select(mailboxes.c.id, mailboxes.c.total, mailboxes.c.unseen, mailboxes.c.size).where(
        mailboxes.c.id.in_(list(mailbox_ids))
    )
    for row in conn.execute(query):
        result[row.id] = {"total": int(row.total), "unseen": int(row.unseen), "size": int(row.size)}
    return result


def storage_used(conn: Connection, user_id: str) -> int:
    total = conn.execute(select(func.coalesce(func.sum(messages.c.size), 0)).where(messages.c.user_id == user_id))
    return int(total.scalar_one())


@dataclass(frozen=True)
class Listing:
    """Which page of a folder's messages by arrival: WildDuck's message listing (`limit`, the cursors,
    `order`), optionally only the unseen (`unseen` True) or only the seen ones (False)."""

    unseen: bool | None
    limit: int
    after: Boundary | None
    before: Boundary | None
    ascending: bool


def listing_read(mailbox_id: str, listing: Listing) -> tuple[Prepared, dict[str, Any]]:
    """The select of a page of a folder's messages (`LISTING_COLUMNS`, rows as dicts), built once per shape of
    the request, to send with others (`store.prepared.read_together`); `listing_page` makes the page."""
    backwards = listing.before is not None and listing.after is None
    boundary = listing.after if not backwards else listing.before
    forward = listing.ascending != backwards  # walk in ascending key order?
    shape = (listing.unseen, boundary is not None, forward)
    statement = _LISTINGS.get(shape)
    if statement is None:
        statement = _LISTINGS[shape] = Prepared(_listing(*shape))
    params: dict[str, Any] = {"mailbox": mailbox_id, "limit": listing.limit + 1}
    if boundary is not None:
        params.update(at=boundary.value, at_id=boundary.id)
    return statement, params


def listing_page(rows: list[dict[str, Any]], listing: Listing) -> Page:
    """The page that `listing_read`'s rows make."""
    backwards = listing.before is not None and listing.after is None
    return page_of(rows, listing.limit, backwards, listing.after, "id", "idate")


def _listing(unseen: bool | None, bounded: bool, forward: bool) -> Select[Any]:
    m = messages.c
    query = select(*LISTING_COLUMNS).where(m.mailbox_id == bindparam("mailbox"))
    if unseen is not None:
        query = query.where(m.seen.is_(not unseen))
    if bounded:  # past the cursor's message: by arrival, then by id among messages that arrived together
        at, at_id = bindparam("at", type_=m.idate.type), bindparam("at_id", type_=m.id.type)
        query = query.where(
            or_(m.idate > at, and_(m.idate == at, m.id > at_id))
            if forward
            else or_(m.idate < at, and_(m.idate == at, m.id < at_id))
        )
    order = (m.idate.asc(), m.id.asc()) if forward else (m.idate.desc(), m.id.desc())
    return query.order_by(*order).limit(bindparam("limit"))


# What a listing shows (WildDuck's `formatMessageListing`): not the search text, the body or the flag list.
LISTING_COLUMNS = tuple(
    messages.c[name]
    for name in (
        "id", "mailbox_id", "uid", "thread", "idate", "hdate", "size", "seen", "flagged", "deleted", "draft",
        "answered", "forwarded", "msgid", "subject", "has_attachments", "summary", "meta_data",
    )
)  # fmt: skip
_LISTINGS: dict[tuple[bool | None, bool, bool], Prepared] = {}  # by (unseen, bounded, forward)


def thread_counts(conn: Connection, user_id: str, threads: Sequence[str]) -> dict[str, int]:
    query = (
        select(messages.c.thread, func.count().label("n"))
        .where(messages.c.user_id == user_id, messages.c.thread.in_(list(threads)))
        .group_by(messages.c.thread)
    )
    return {row.thread: int(row.n) for row in conn.execute(query)}


def thread_read(
    dialect: str, user_id: str, subject: str, refs: Sequence[str]
) -> tuple[Prepared, dict[str, Any]] | None:
    """The select of the user's thread under this subject key that knows one of these message-id keys (the
    oldest), to send with others; None without keys. `thread_of` reads its rows."""
    if not refs:
        return None
    query = _THREAD_FOR.get(dialect, _THREAD_FOR["sqlite"])
    return query, {"user": user_id, "subject": subject, "refs": list(refs)}


def thread_of(rows: list[dict[str, Any]]) -> str | None:
    """The thread `thread_read`'s rows name, if any."""
    return rows[0]["thread"] if rows else None


def _thread_for(ref_in: Any) -> Prepared:
    return Prepared(
        select(threads.c.thread)
        .where(threads.c.user_id == bindparam("user"), threads.c.subject == bindparam("subject"), ref_in)
        .order_by(threads.c.thread)
        .limit(1)
    )


_THREAD_FOR = {  # on every upload: built once; on PostgreSQL the keys are one array (no IN list to expand)
    "postgresql": _thread_for(threads.c.ref == any_(bindparam("refs", type_=postgresql.ARRAY(threads.c.ref.type)))),
    "sqlite": _thread_for(threads.c.ref.in_(bindparam("refs", expanding=True))),
}


def register_id(user_id: str, addrview: str) -> str:
    """A stable 24-hex id for a register entry (WildDuck shows its document id)."""
    return hashlib.sha256(f"{user_id}:{addrview}".encode()).hexdigest()[:24]


def register_entry(conn: Connection, user_id: str, entry_id: str) -> dict[str, Any] | None:
    """The user's register entry whose public id (`register_id`) is `entry_id`, disabled or not."""
    t = address_register
    for row in conn.execute(select(t).where(t.c.user_id == user_id)):
        if register_id(row.user_id, row.addrview) == entry_id:
            return dict(row._mapping)
    return None


def register_lookup(conn: Connection, user_id: str, query: str, limit: int = 100) -> list[dict[str, Any]]:
    t = address_register
    pattern = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = conn.execute(
        select(t)
        .where(
            t.c.user_id == user_id,
            t.c.disabled == false(),
            (t.c.addrview.like(pattern, escape="\\")) | (func.lower(t.c.name).like(pattern, escape="\\")),
        )
        .order_by(t.c.updated.desc(), t.c.addrview)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def list_archived(
    conn: Connection, user_id: str, *, limit: int, after: Boundary | None, before: Boundary | None, ascending: bool
) -> tuple[int, Page]:
    t = archived_messages
    where = [t.c.user_id == user_id]
    total = int(conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one())
    page = keyset_page(
        conn, select(t).where(*where), t.c.id, limit=limit, ascending=ascending, after=after, before=before
    )
    return total, page


def message_refs(
    conn: Connection, where: Sequence[ColumnElement[bool]], limit: int | None = None
) -> list[dict[str, Any]]:
    """The little a removal needs of each matching message: `{user, mailbox, uid, message, size, seen}`."""
    t = messages
    query = select(t.c.user_id, t.c.mailbox_id, t.c.uid, t.c.id, t.c.size, t.c.seen).where(*where).order_by(t.c.id)
    return [
        {
            "user": r.user_id,
            "mailbox": r.mailbox_id,
            "uid": int(r.uid),
            "message": r.id,
            "size": int(r.size),
            "seen": bool(r.seen),
        }
        for r in conn.execute(query if limit is None else query.limit(limit))
    ]


def expired_messages(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    return message_refs(conn, [messages.c.expires.is_not(None), messages.c.expires <= now], limit)


def old_archive_entries(conn: Connection, cutoff: datetime, limit: int) -> list[dict[str, str]]:
    t = archived_messages
    query = select(t.c.id, t.c.user_id, t.c.mailbox_id).where(t.c.archived < cutoff).order_by(t.c.archived)
    return [{"id": r.id, "user": r.user_id, "mailbox": r.mailbox_id} for r in conn.execute(query.limit(limit))]


def storage_by_user(conn: Connection) -> dict[str, int]:
    query = select(messages.c.user_id, func.sum(messages.c.size).label("used")).group_by(messages.c.user_id)
    return {row.user_id: int(row.used or 0) for row in conn.execute(query)}
