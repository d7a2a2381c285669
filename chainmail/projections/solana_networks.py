"""Solana ingestion per network: the last slot and number of Mailer instructions recorded, and the Helius
webhook registered for it (`GET /solana/status`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Connection, DateTime, String, Table, Text, insert, select, update

from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.solana import SolanaCursor, SolanaWebhook
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

solana_networks = Table(
    "solana_networks",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("slot", BigInteger, nullable=True),
    Column("instructions", BigInteger, nullable=False),
    Column("webhook_id", String(128), nullable=True),
    Column("webhook_url", Text, nullable=True),
    Column("webhook_type", String(32), nullable=True),
    Column("program_id", String(44), nullable=True),
    Column("registered_at", DateTime(timezone=True), nullable=True),
)


class SolanaNetworksProjection(Projection):
    name = "solana_networks"
    follows = (Chain,)
    tables = (solana_networks,)

    def _upsert(self, tx: Connection, chain_id: int, **values: Any) -> None:
        t = self.t.solana_networks
        exists = tx.execute(select(t.c.chain_id).where(t.c.chain_id == chain_id)).first() is not None
        if not exists:
            tx.execute(insert(t), {"chain_id": chain_id, "instructions": 0, **values})
        elif values:
            tx.execute(update(t).where(t.c.chain_id == chain_id).values(**values))

    @handles(SolanaCursor.Started, SolanaWebhook.Started)
    def started(self, tx: Connection, e: Any) -> None:
        self._upsert(tx, e.chain_id)

    @handles(SolanaCursor.Advanced)
    def advanced(self, tx: Connection, e: SolanaCursor.Advanced) -> None:
        self._upsert(tx, e.chain_id, slot=e.to_slot, instructions=e.first + e.count)

    @handles(SolanaWebhook.Registered)
    def registered(self, tx: Connection, e: SolanaWebhook.Registered) -> None:
        self._upsert(
            tx,
            e.chain_id,
            webhook_id=e.webhook_id,
            webhook_url=e.url,
            webhook_type=e.webhook_type,
            program_id=e.program_id,
            registered_at=e.timestamp,
        )


def network_rows(conn: Connection) -> dict[int, dict[str, Any]]:
    return {int(row.chain_id): dict(row._mapping) for row in conn.execute(select(solana_networks))}
