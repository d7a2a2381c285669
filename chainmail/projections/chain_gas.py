"""Gas of the indexed transactions (from block receipts, when the chain is set to fetch them): one row per
transaction with a mail or delegation log, for the gasUsed/gasPrice of mails and delegations and a wallet's
totalGasUsed/averageGasPrice (join on chain_id and tx_hash)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Index, Numeric, String, Table, func, select

from chainmail.projections.chain_logs import ChainProjection, add_row
from chainmail.store.schema import metadata

evm_transaction_gas = Table(
    "evm_transaction_gas",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tx_hash", String(66), primary_key=True),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(66), nullable=False),
    Column("tx_from", String(42), nullable=True),
    Column("gas_used", BigInteger, nullable=False),
    Column("gas_price", Numeric(78, 0), nullable=False),  # wei per gas; uint256 on the wire
    Index(None, "chain_id", "block_number"),
)


class TransactionGasProjection(ChainProjection):
    name = "evm_transaction_gas"
    tables = (evm_transaction_gas,)

    def fold(self, tx: Connection, logs: list[dict[str, Any]]) -> None:
        seen: set[str] = set()
        for data in logs:
            # a transaction is in one block and a block in one page: its first log of the page is its only row
            if data.get("gas_used") is None or data["tx_hash"] in seen:
                continue
            seen.add(data["tx_hash"])
            add_row(
                tx,
                self.t.evm_transaction_gas,
                {
                    "chain_id": data["chain_id"],
                    "tx_hash": data["tx_hash"],
                    "block_number": data["block_number"],
                    "block_hash": data["block_hash"],
                    "tx_from": data.get("tx_from"),
                    "gas_used": data["gas_used"],
                    "gas_price": data["gas_price"] or 0,
                },
            )


def transaction_gas(conn: Connection, chain_id: int, tx_hash: str) -> dict[str, Any] | None:
    g = evm_transaction_gas
    row = conn.execute(select(g).where(g.c.chain_id == chain_id, g.c.tx_hash == tx_hash.lower())).first()
    return dict(row._mapping) if row else None


def gas_totals(conn: Connection, tx_hashes: Any) -> dict[str, Any]:
    """totalGasUsed and averageGasPrice (weighted by gas, as a decimal string) over a select of tx hashes."""
    g = evm_transaction_gas
    row = conn.execute(
        select(func.sum(g.c.gas_used).label("gas"), func.sum(g.c.gas_used * g.c.gas_price).label("paid")).where(
            g.c.tx_hash.in_(tx_hashes)
        )
    ).one()
    gas, paid = int(row.gas or 0), int(row.paid or 0)
    return {"totalGasUsed": str(gas), "averageGasPrice": str(paid // gas if gas else 0)}
