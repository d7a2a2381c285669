"""The `wallet_webhooks` read model: each wallet's webhooks, with how often `sendThroughWebhook` named them
on chain (the log carries the keccak256 of the id, matched against `id_hash`)."""

from __future__ import annotations

from typing import Any

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
from chainmail.domain.identity.wallet_tools import WalletWebhook
from chainmail.projections.chain_mails import evm_mails
from chainmail.projections.mail_templates import id_hash
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

wallet_webhooks = Table(
    "wallet_webhooks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("id_hash", String(66), nullable=False),  # 0x + keccak256 of the id, as an indexed string topic
    Column("wallet", String(64), nullable=False),
    Column("chain_type", String(8), nullable=False),
    Column("webhook_url", Text, nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "wallet", "created_at"),
    Index(None, "id_hash"),
)


class WalletWebhooksProjection(Projection):
    name = "wallet_webhooks"
    follows = (Identity,)
    tables = (wallet_webhooks,)

    @handles(WalletWebhook.Created)
    def created(self, tx: Connection, e: Any) -> None:
        tx.execute(
            insert(self.t.wallet_webhooks).values(
                id=e.webhook_id,
                id_hash=id_hash(e.webhook_id),
                wallet=e.wallet,
                chain_type=e.chain_type,
                webhook_url=e.webhook_url,
                is_active=True,
                created_at=e.at,
                updated_at=e.at,
            )
        )

    @handles(WalletWebhook.Deleted)
    def deleted(self, tx: Connection, e: Any) -> None:
        t = self.t.wallet_webhooks
        tx.execute(update(t).where(t.c.id == e.webhook_id).values(is_active=False, updated_at=e.at))


def _triggers() -> Any:
    """Per webhook: how many chain mails went through it, and when the last one did."""
    m, w = evm_mails, wallet_webhooks
    return select(func.count(), func.max(m.c.block_time)).where(
        or_(m.c.webhook_id == w.c.id, func.lower(m.c.webhook_id_hash) == w.c.id_hash)
    )


def _row(conn: Connection, row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    count, last = conn.execute(_triggers().where(wallet_webhooks.c.id == found["id"])).one()
    found["trigger_count"], found["last_triggered_block_time"] = int(count), last
    return found


def webhook(conn: Connection, webhook_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(wallet_webhooks).where(wallet_webhooks.c.id == webhook_id)).first()
    return _row(conn, row) if row is not None else None


def webhooks_of(
    conn: Connection, wallet: str, *, active: bool | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the wallet's webhooks, newest first, and how many there are in all."""
    w = wallet_webhooks
    where = [w.c.wallet == wallet]
    if active is not None:
        where.append(w.c.is_active == active)
    total = conn.execute(select(func.count()).select_from(w).where(*where)).scalar_one()
    rows = conn.execute(
        select(w).where(*where).order_by(w.c.created_at.desc(), w.c.id.desc()).limit(limit).offset(offset)
    ).all()
    return [_row(conn, row) for row in rows], int(total)
