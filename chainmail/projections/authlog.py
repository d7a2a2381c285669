"""The `authlog` read model: a user's authentication events, similar ones merged per 6-hour bucket."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    func,
    insert,
    select,
    update,
)

from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.authlog import AUTHLOG_BUCKET, AuthEvent
from chainmail.projections.paging import Boundary, Page, keyset_page
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

authlog = Table(
    "authlog",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("user_id", String(24), nullable=False),
    Column("key", String(32), nullable=False),
    Column("ip", String(64), nullable=True),
    Column("entry", JSON, nullable=False),  # action, result, protocol, sess, requiredScope, source, ...
    Column("events", Integer, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("last", DateTime(timezone=True), nullable=False),
    Column("expires", DateTime(timezone=True), nullable=False),
    Index(None, "user_id", "id"),
    Index(None, "user_id", "key", "created"),
)


class AuthlogProjection(Projection):
    name = "authlog"
    follows = (Mail,)
    tables = (authlog,)

    def serial_keys(self, event: Any) -> Iterable[str]:
        # sign-ins of one account and kind merge into one bucket row: in commit order, as a replay folds them
        if isinstance(event, AuthEvent.Recorded):
            yield f"authlog:{event.user_id}:{event.key}"

    @handles(AuthEvent.Recorded)
    def recorded(self, tx: Connection, e: AuthEvent.Recorded) -> None:
        t = self.t.authlog
        bucket = tx.execute(
            select(t.c.id)
            .where(t.c.user_id == e.user_id, t.c.key == e.key, t.c.created >= e.created_at - AUTHLOG_BUCKET)
            .order_by(t.c.created.desc())
            .limit(1)
        ).scalar_one_or_none()
        if bucket is not None:
            tx.execute(update(t).where(t.c.id == bucket).values(events=t.c.events + 1, last=e.created_at))
            return
        tx.execute(
            insert(t).values(
                id=e.event_id,
                user_id=e.user_id,
                key=e.key,
                ip=e.entry.get("ip"),
                entry=e.entry,
                events=1,
                created=e.created_at,
                last=e.created_at,
                expires=e.expires_at,
            )
        )


def _where(user_id: str, ip: str | None) -> list[Any]:
    clauses: list[Any] = [authlog.c.user_id == user_id]
    if ip:
        clauses.append(authlog.c.ip == ip)
    return clauses


def count_events(conn: Connection, user_id: str, ip: str | None) -> int:
    return int(conn.execute(select(func.count()).select_from(authlog).where(*_where(user_id, ip))).scalar_one())


def list_events(
    conn: Connection, user_id: str, ip: str | None, *, limit: int, after: Boundary | None, before: Boundary | None
) -> Page:
    query = select(authlog).where(*_where(user_id, ip))
    return keyset_page(conn, query, authlog.c.id, limit=limit, ascending=False, after=after, before=before)


def get_event(conn: Connection, user_id: str, event_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(authlog).where(authlog.c.user_id == user_id, authlog.c.id == event_id)).first()
    return dict(row._mapping) if row else None
