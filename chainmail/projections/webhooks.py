"""The `webhooks` read model: registered webhooks and the event types they want."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Index,
    String,
    Table,
    Text,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.webhooks import Webhook
from chainmail.projections.paging import Boundary, Page, keyset_page
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("types", JSON, nullable=False),
    Column("user_id", String(24), nullable=True),
    Column("url", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "user_id"),
)


class WebhooksProjection(Projection):
    name = "webhooks"
    follows = (Mail,)
    tables = (webhooks,)

    @handles(Webhook.Created)
    def created(self, tx: Connection, e: Webhook.Created) -> None:
        tx.execute(
            insert(self.t.webhooks).values(
                id=e.webhook_id, types=e.types, user_id=e.user_id, url=e.url, created=e.created_at
            )
        )

    @handles(Webhook.Deleted)
    def deleted(self, tx: Connection, e: Webhook.Deleted) -> None:
        tx.execute(delete(self.t.webhooks).where(self.t.webhooks.c.id == object_id_of(e.originator_id)))


def _where(kind: str | None, user_id: str | None) -> list[Any]:
    clauses: list[Any] = []
    if kind:
        # a webhook wants a type when it lists it, or "*", or the type's prefix with ".*"
        prefix = kind.split(".")[0]
        types = cast(webhooks.c.types, Text)
        clauses.append(or_(types.like(f'%"{kind}"%'), types.like('%"*"%'), types.like(f'%"{prefix}.*"%')))
    if user_id:
        clauses.append(webhooks.c.user_id == user_id)
    return clauses


def count_webhooks(conn: Connection, kind: str | None, user_id: str | None) -> int:
    return int(conn.execute(select(func.count()).select_from(webhooks).where(*_where(kind, user_id))).scalar_one())


def list_webhooks(
    conn: Connection,
    kind: str | None,
    user_id: str | None,
    *,
    limit: int,
    after: Boundary | None,
    before: Boundary | None,
) -> Page:
    query = select(webhooks).where(*_where(kind, user_id))
    return keyset_page(conn, query, webhooks.c.id, limit=limit, after=after, before=before)


def get_webhook(conn: Connection, webhook_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
    return dict(row._mapping) if row else None
