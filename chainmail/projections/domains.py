"""The `domain_aliases` and `domain_access` read models."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, DateTime, Index, String, Table, delete, func, insert, select, update

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.domains import DomainAccess, DomainAlias
from chainmail.projections.paging import Boundary, Page, keyset_page
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

domain_aliases = Table(
    "domain_aliases",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("alias", String(255), nullable=False),
    Column("domain", String(255), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "alias", unique=True),
    Index(None, "domain"),
)

domain_access = Table(
    "domain_access",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("tag", String(128), nullable=False),
    Column("tagview", String(128), nullable=False),
    Column("domain", String(255), nullable=False),
    Column("action", String(16), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "tagview", "action", "domain"),
)


class DomainsProjection(Projection):
    name = "domains"
    follows = (Mail,)
    tables = (domain_aliases, domain_access)

    @handles(DomainAlias.Created)
    def alias_created(self, tx: Connection, e: DomainAlias.Created) -> None:
        tx.execute(
            insert(self.t.domain_aliases).values(id=e.alias_id, alias=e.alias, domain=e.domain, created=e.created_at)
        )

    @handles(DomainAlias.TargetChanged)
    def alias_target_changed(self, tx: Connection, e: DomainAlias.TargetChanged) -> None:
        t = self.t.domain_aliases
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(domain=e.domain))

    @handles(DomainAlias.Deleted)
    def alias_deleted(self, tx: Connection, e: DomainAlias.Deleted) -> None:
        tx.execute(delete(self.t.domain_aliases).where(self.t.domain_aliases.c.id == object_id_of(e.originator_id)))

    @handles(DomainAccess.Created)
    def access_created(self, tx: Connection, e: DomainAccess.Created) -> None:
        tx.execute(
            insert(self.t.domain_access).values(
                id=e.entry_id, tag=e.tag, tagview=e.tagview, domain=e.domain, action=e.action, created=e.created_at
            )
        )

    @handles(DomainAccess.ActionChanged)
    def access_changed(self, tx: Connection, e: DomainAccess.ActionChanged) -> None:
        t = self.t.domain_access
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(action=e.action))

    @handles(DomainAccess.Deleted)
    def access_deleted(self, tx: Connection, e: DomainAccess.Deleted) -> None:
        tx.execute(delete(self.t.domain_access).where(self.t.domain_access.c.id == object_id_of(e.originator_id)))


def _alias_where(query: str | None) -> list[Any]:
    if not query:
        return []
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [domain_aliases.c.alias.like(f"%{escaped}%", escape="\\")]


def count_aliases(conn: Connection, query: str | None) -> int:
    statement = select(func.count()).select_from(domain_aliases).where(*_alias_where(query))
    return int(conn.execute(statement).scalar_one())


def list_aliases(
    conn: Connection, query: str | None, *, limit: int, after: Boundary | None, before: Boundary | None
) -> Page:
    statement = select(domain_aliases).where(*_alias_where(query))
    return keyset_page(
        conn,
        statement,
        domain_aliases.c.id,
        limit=limit,
        sort_column=domain_aliases.c.alias,
        after=after,
        before=before,
    )


def get_alias(conn: Connection, alias_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(domain_aliases).where(domain_aliases.c.id == alias_id)).first()
    return dict(row._mapping) if row else None


def resolve_alias(conn: Connection, alias: str) -> str | None:
    return conn.execute(select(domain_aliases.c.id).where(domain_aliases.c.alias == alias)).scalar_one_or_none()


def alias_target(conn: Connection, alias: str) -> str | None:
    return conn.execute(select(domain_aliases.c.domain).where(domain_aliases.c.alias == alias)).scalar_one_or_none()


def aliases_of(conn: Connection, domain: str) -> list[str]:
    query = select(domain_aliases.c.id).where(domain_aliases.c.domain == domain).order_by(domain_aliases.c.id)
    return [row.id for row in conn.execute(query)]


def access_list(conn: Connection, tagview: str, action: str) -> list[dict[str, Any]]:
    t = domain_access
    query = select(t).where(t.c.tagview == tagview, t.c.action == action).order_by(t.c.domain, t.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]
