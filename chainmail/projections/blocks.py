"""Indexing status per chain: the checkpoint and recent block headers (from the chain context's events)
and the head the indexer last saw (written by the indexer itself; not an event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)
from sqlalchemy import update as sql_update

from chainmail.domain.chain.cursor import ChainCursor
from chainmail.projections.chain_logs import RevertibleProjection
from chainmail.projections.projection import handles
from chainmail.store.database import writer
from chainmail.store.schema import metadata

# Block headers kept per chain below its checkpoint; more than the cursor's RECENT_BLOCKS.
KEEP_BLOCKS = 4096

evm_blocks = Table(
    "evm_blocks",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, primary_key=True, autoincrement=False),
    Column("block_hash", String(66), nullable=False),
    Column("parent_hash", String(66), nullable=True),
    Column("block_time", BigInteger, nullable=True),
)

evm_checkpoints = Table(
    "evm_checkpoints",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(66), nullable=True),
    Column("logs", BigInteger, nullable=False),
    Column("reverts", BigInteger, nullable=False),
)

# Written by `chainmail index` on every poll: what the node says, and the last error.
evm_chain_heads = Table(
    "evm_chain_heads",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False),
    Column("head_block", BigInteger, nullable=True),
    Column("finalized_block", BigInteger, nullable=True),
    Column("rpc_url", Text, nullable=True),  # redacted
    Column("error", Text, nullable=True),
    Column("updated", DateTime(timezone=True), nullable=False),
    # the indexer's progress as it last reported it: checkpoint block, and rates over the last minute
    Column("indexed_block", BigInteger, nullable=True),
    Column("blocks_per_second", Float, nullable=True),
    Column("events_per_second", Float, nullable=True),
)


class BlocksProjection(RevertibleProjection):
    name = "evm_blocks"
    tables = (evm_blocks, evm_checkpoints)

    @handles(ChainCursor.Started)
    def started(self, tx: Connection, e: ChainCursor.Started) -> None:
        tx.execute(
            insert(self.t.evm_checkpoints),
            dict(chain_id=e.chain_id, block_number=e.start_block - 1, block_hash=None, logs=0, reverts=0),
        )

    @handles(ChainCursor.Advanced)
    def advanced(self, tx: Connection, e: ChainCursor.Advanced) -> None:
        c, b = self.t.evm_checkpoints, self.t.evm_blocks
        chain_id = e.chain_id
        headers = {number: (block_hash, parent, time) for number, block_hash, parent, time in e.headers}
        if e.to_hash is not None and e.to_block not in headers:
            headers[e.to_block] = (e.to_hash, None, None)
        if headers:
            tx.execute(delete(b).where(b.c.chain_id == chain_id, b.c.block_number.in_(list(headers))))
            tx.execute(
                insert(b),
                [
                    {"chain_id": chain_id, "block_number": n, "block_hash": h, "parent_hash": p, "block_time": t}
                    for n, (h, p, t) in sorted(headers.items())
                ],
            )
        # Headers far below the checkpoint are never needed again (reorgs walk back over recent ones only).
        tx.execute(delete(b).where(b.c.chain_id == chain_id, b.c.block_number <= e.to_block - KEEP_BLOCKS))
        tx.execute(
            sql_update(c)
            .where(c.c.chain_id == chain_id)
            .values(block_number=e.to_block, block_hash=e.to_hash, logs=c.c.logs + e.logs)
        )

    def revert(self, tx: Connection, chain_id: int, from_block: int) -> None:
        c, b = self.t.evm_checkpoints, self.t.evm_blocks
        tx.execute(delete(b).where(b.c.chain_id == chain_id, b.c.block_number >= from_block))
        ancestor = tx.execute(
            select(b.c.block_hash).where(b.c.chain_id == chain_id, b.c.block_number == from_block - 1)
        ).scalar_one_or_none()
        tx.execute(
            sql_update(c)
            .where(c.c.chain_id == chain_id)
            .values(block_number=from_block - 1, block_hash=ancestor, reverts=c.c.reverts + 1)
        )


# -- queries and the indexer's own writes ------------------------------------------------------


def record_head(
    engine: Engine,
    chain_id: int,
    name: str,
    *,
    head: int | None,
    finalized: int | None,
    rpc_url: str | None,
    error: str | None,
    now: datetime,
    progress: tuple[int, float, float] | None = None,
) -> None:
    """The head the node showed, the last error, and with `progress` (indexed block, blocks/s, events/s)
    the indexer's pace."""
    values: dict[str, Any] = {
        "name": name,
        "head_block": head,
        "finalized_block": finalized,
        "rpc_url": rpc_url,
        "error": error,
        "updated": now,
    }
    if progress is not None:
        values["indexed_block"], values["blocks_per_second"], values["events_per_second"] = progress
    with writer(engine).begin() as tx:
        if (
            tx.execute(
                sql_update(evm_chain_heads).where(evm_chain_heads.c.chain_id == chain_id).values(**values)
            ).rowcount
            == 0
        ):
            tx.execute(insert(evm_chain_heads), dict(chain_id=chain_id, **values))


def chain_status(conn: Connection) -> dict[int, dict[str, Any]]:
    """Per chain id: checkpoint (indexed block) and head rows merged."""
    out: dict[int, dict[str, Any]] = {}
    for row in conn.execute(select(evm_checkpoints)):
        out.setdefault(int(row.chain_id), {}).update(indexed_block=row.block_number, logs=row.logs, reverts=row.reverts)
    for row in conn.execute(select(evm_chain_heads)):
        out.setdefault(int(row.chain_id), {}).update(
            name=row.name,
            head_block=row.head_block,
            finalized_block=row.finalized_block,
            rpc_url=row.rpc_url,
            error=row.error,
            updated=row.updated,
            blocks_per_second=row.blocks_per_second,
            events_per_second=row.events_per_second,
        )
    return out
