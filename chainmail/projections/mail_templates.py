"""The `mail_templates` read model: each wallet's mail templates, with how often `sendPrepared` named them
on chain (the log carries the keccak256 of the id, matched against `id_hash`)."""

from __future__ import annotations

from typing import Any

from eth_utils import keccak
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Index,
    String,
    Table,
    Text,
    func,
    insert,
    or_,
    select,
    update,
)

from chainmail.domain.identity.application import Identity
from chainmail.domain.identity.wallet_tools import MailTemplate
from chainmail.projections.chain_mails import evm_mails
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

mail_templates = Table(
    "mail_templates",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("id_hash", String(66), nullable=False),  # 0x + keccak256 of the id, as an indexed string topic
    Column("wallet", String(64), nullable=False),
    Column("chain_type", String(8), nullable=False),
    Column("name", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "wallet", "created_at"),
    Index(None, "id_hash"),
)


def id_hash(identifier: str) -> str:
    """How an indexed `string` event parameter carries `identifier`: its keccak256."""
    return "0x" + keccak(text=identifier).hex()


class MailTemplatesProjection(Projection):
    name = "mail_templates"
    follows = (Identity,)
    tables = (mail_templates,)

    @handles(MailTemplate.Created)
    def created(self, tx: Connection, e: Any) -> None:
        tx.execute(
            insert(self.t.mail_templates).values(
                id=e.template_id,
                id_hash=id_hash(e.template_id),
                wallet=e.wallet,
                chain_type=e.chain_type,
                name=e.name,
                subject=e.subject,
                body=e.body,
                is_active=True,
                created_at=e.at,
                updated_at=e.at,
            )
        )

    @handles(MailTemplate.Updated)
    def updated(self, tx: Connection, e: Any) -> None:
        t = self.t.mail_templates
        tx.execute(
            update(t)
            .where(t.c.id == e.template_id)
            .values(name=e.name, subject=e.subject, body=e.body, updated_at=e.at)
        )

    @handles(MailTemplate.Deleted)
    def deleted(self, tx: Connection, e: Any) -> None:
        t = self.t.mail_templates
        tx.execute(update(t).where(t.c.id == e.template_id).values(is_active=False, updated_at=e.at))


def _usage() -> Any:
    """Per template: how many chain mails named it, and when the last one was sent."""
    m, t = evm_mails, mail_templates
    return (
        select(func.count(), func.max(m.c.block_time))
        .where(or_(m.c.mail_id == t.c.id, func.lower(m.c.mail_id_hash) == t.c.id_hash))
        .where(func.lower(m.c.sender) == func.lower(t.c.wallet))
    )


def _row(conn: Connection, row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    count, last = conn.execute(_usage().where(mail_templates.c.id == found["id"])).one()
    found["usage_count"], found["last_used_block_time"] = int(count), last
    return found


def template(conn: Connection, template_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(mail_templates).where(mail_templates.c.id == template_id)).first()
    return _row(conn, row) if row is not None else None


def templates_of(
    conn: Connection, wallet: str, *, active: bool | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the wallet's templates, newest first, and how many there are in all."""
    t = mail_templates
    where = [t.c.wallet == wallet]
    if active is not None:
        where.append(t.c.is_active == active)
    total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
    rows = conn.execute(
        select(t).where(*where).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit).offset(offset)
    ).all()
    return [_row(conn, row) for row in rows], int(total)
