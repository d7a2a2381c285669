"""The `outbound_queue` read model: one row per delivery of a queued message, with its state; the delivery
worker picks due rows from it, the message view lists a message's queue entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.outbound import PENDING, QueuedMessage
from chainmail.projections.projection import BatchedWrites, Projection, handles
from chainmail.store.prepared import Prepared
from chainmail.store.schema import metadata

outbound_queue = Table(
    "outbound_queue",
    metadata,
    Column("queue_id", String(24), primary_key=True),
    Column("seq", String(8), primary_key=True),
    Column("user_id", String(24), nullable=True),
    Column("parent_id", String(24), nullable=True),  # the stored message it was sent or forwarded from
    Column("reason", String(16), nullable=False),  # submit, forward, autoreply, bounce
    Column("sender", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("domain", Text, nullable=False),
    Column("target", JSON, nullable=True),  # a forward target {type, value}; none for plain delivery
    Column("blob", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("last_response", Text, nullable=True),
    Column("queued", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    Index(None, "status", "next_attempt"),
    Index(None, "parent_id"),
    Index(None, "user_id", "reason", "queued"),
)


class OutboundProjection(Projection):
    name = "outbound"
    follows = (Mail,)
    tables = (outbound_queue,)

    @handles(QueuedMessage.Queued)
    def queued(self, tx: BatchedWrites, e: QueuedMessage.Queued) -> None:
        for d in e.deliveries:
            tx.insert(
                self.t.outbound_queue,
                {
                    "queue_id": e.queue_id,
                    "seq": d["seq"],
                    "user_id": e.user_id,
                    "parent_id": e.parent_id,
                    "reason": e.reason,
                    "sender": e.sender,
                    "recipient": d["recipient"],
                    "domain": d["recipient"].rpartition("@")[2].lower(),
                    "target": d.get("target"),
                    "blob": e.blob,
                    "size": e.size,
                    "status": "queued",
                    "attempts": 0,
                    "next_attempt": e.send_time,
                    "claimed_until": None,
                    "last_response": None,
                    "queued": e.send_time,
                    "updated": e.created_at,
                },
            )

    def _set(self, tx: Connection, e: Any, seqs: list[str], **values: Any) -> None:
        t = self.t.outbound_queue
        tx.execute(
            update(t)
            .where(t.c.queue_id == object_id_of(e.originator_id), t.c.seq.in_(seqs))
            .values(updated=e.at, **values)
        )

    @handles(QueuedMessage.Claimed)
    def claimed(self, tx: Connection, e: QueuedMessage.Claimed) -> None:
        self._set(tx, e, e.seqs, claimed_until=e.until)

    @handles(QueuedMessage.Delivered)
    def delivered(self, tx: Connection, e: QueuedMessage.Delivered) -> None:
        self._set(tx, e, [e.seq], status="delivered", attempts=e.attempts, claimed_until=None, last_response=e.response)

    @handles(QueuedMessage.Deferred)
    def deferred(self, tx: Connection, e: QueuedMessage.Deferred) -> None:
        self._set(
            tx,
            e,
            [e.seq],
            status="deferred",
            attempts=e.attempts,
            next_attempt=e.next_attempt,
            claimed_until=None,
            last_response=e.response,
        )

    @handles(QueuedMessage.Bounced)
    def bounced(self, tx: Connection, e: QueuedMessage.Bounced) -> None:
        self._set(tx, e, [e.seq], status="bounced", attempts=e.attempts, claimed_until=None, last_response=e.response)

    @handles(QueuedMessage.Deleted)
    def deleted(self, tx: Connection, e: QueuedMessage.Deleted) -> None:
        self._set(tx, e, e.seqs, status="deleted", claimed_until=None)


def due_deliveries(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Deliveries waiting and due, not held by a live claim, oldest first."""
    t = outbound_queue
    query = (
        select(t)
        .where(
            t.c.status.in_(PENDING),
            t.c.next_attempt <= now,
            or_(t.c.claimed_until.is_(None), t.c.claimed_until <= now),
        )
        .order_by(t.c.next_attempt, t.c.queue_id, t.c.seq)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def queue_entries(conn: Connection, queue_id: str) -> list[dict[str, Any]]:
    t = outbound_queue
    return [dict(r._mapping) for r in conn.execute(select(t).where(t.c.queue_id == queue_id).order_by(t.c.seq))]


def entries_of_message(conn: Connection, parent_id: str, reason: str | None = None) -> list[dict[str, Any]]:
    t = outbound_queue
    query = select(t).where(t.c.parent_id == parent_id)
    if reason is not None:
        query = query.where(t.c.reason == reason)
    return [dict(r._mapping) for r in conn.execute(query.order_by(t.c.queued, t.c.queue_id, t.c.seq))]


_RECIPIENTS_SINCE = Prepared(
    select(func.count().label("count")).where(
        outbound_queue.c.user_id == bindparam("user"),
        outbound_queue.c.reason == "submit",
        outbound_queue.c.queued >= bindparam("since", type_=DateTime(timezone=True)),
    )
)


def recipients_since_read(user_id: str, since: datetime) -> tuple[Prepared, dict[str, Any]]:
    """The count of `recipients_since`, to send with others (`store.prepared.read_together`); one row, `count`."""
    return _RECIPIENTS_SINCE, {"user": user_id, "since": since}


def recipients_since(conn: Connection, user_id: str, since: datetime) -> int:
    """How many recipients a user's own submissions were queued for since `since` (the daily sending limit)."""
    query, params = recipients_since_read(user_id, since)
    return int(query.rows(conn, params)[0]["count"])


_FORWARDS_SINCE = Prepared(
    select(func.count().label("count")).where(
        outbound_queue.c.reason == "forward",
        or_(
            outbound_queue.c.user_id == bindparam("owner"),
            and_(outbound_queue.c.user_id.is_(None), outbound_queue.c.parent_id == bindparam("owner")),
        ),
        outbound_queue.c.queued >= bindparam("since", type_=DateTime(timezone=True)),
    )
)


def forwards_since_read(owner: str, since: datetime) -> tuple[Prepared, dict[str, Any]]:
    """The count of forward deliveries queued for `owner` (a user, or a forwarded address) since `since` (the
    daily `forwards` limit), to send with the account's turn; one row, `count`."""
    return _FORWARDS_SINCE, {"owner": owner, "since": since}


def autoreplied_since(conn: Connection, owner: str, recipient: str, since: datetime) -> bool:
    """Did the autoreply of `owner` (a user, or a forwarded address) already answer `recipient` since `since`?"""
    t = outbound_queue
    query = select(t.c.queue_id).where(
        and_(
            t.c.reason == "autoreply",
            or_(t.c.user_id == owner, t.c.parent_id == owner),
            t.c.recipient == recipient,
            t.c.queued >= since,
        )
    )
    return conn.execute(query.limit(1)).first() is not None


def outbound_of_message(conn: Connection, message_id: str) -> list[dict[str, Any]]:
    """A stored message's `outbound` as WildDuck shows it: each queue id it was sent or forwarded with, and
    the deliveries of it still waiting (ZoneMTA drops an entry from its queue once it is done)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for row in entries_of_message(conn, message_id):
        entries = found.setdefault(row["queue_id"], [])
        if row["status"] in PENDING:
            entries.append(
                {"seq": row["seq"], "recipient": row["recipient"], "sendingZone": "default", "queued": row["queued"]}
            )
    return [{"queueId": queue_id, "entries": entries} for queue_id, entries in found.items()]


def forward_targets_of(conn: Connection, message_id: str) -> list[dict[str, Any]]:
    """The targets a stored message was forwarded to when it arrived (`forwardTargets`), in order."""
    rows = entries_of_message(conn, message_id, "forward")
    first = rows[0]["queue_id"] if rows else None
    return [dict(r["target"]) for r in rows if r["queue_id"] == first and r["target"]]
