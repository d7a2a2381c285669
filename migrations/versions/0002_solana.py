"""Solana in the chain read models: addresses wide enough for base58 keys (44), transaction hashes for
base58 signatures (88), and the per-network ingestion status

Revision ID: 0002_solana
Revises: 0002_chain
Create Date: 2026-11-25 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_solana"
down_revision = "0002_chain"  # it widens the chain read models' columns (a branch of its own from there)
branch_labels = ("solana",)
depends_on = None

ADDRESS, EVM_ADDRESS = 44, 42
TX_HASH, EVM_TX_HASH = 88, 66

# table -> (address columns, transaction hash columns)
WIDENED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "evm_mails": (("address", "sender", "payer", "recipient"), ("tx_hash",)),
    "evm_delegation_history": (("address", "delegator", "delegate", "tx_from"), ("tx_hash",)),
    "evm_delegations": (("delegator", "delegate", "address"), ("tx_hash",)),
    "evm_event_log": (("address", "tx_from"), ("tx_hash",)),
    "evm_shares": ((), ("tx_hash",)),
    "evm_fee_settings": ((), ("tx_hash",)),
    "threedns_name_events": ((), ("tx_hash",)),
}


def _resize(address: int, tx_hash: int, old_address: int, old_tx_hash: int) -> None:
    for table, (addresses, hashes) in WIDENED.items():
        with op.batch_alter_table(table) as batch:  # SQLite rebuilds the table, PostgreSQL alters it
            for column in addresses:
                batch.alter_column(column, type_=sa.String(length=address), existing_type=sa.String(old_address))
            for column in hashes:
                batch.alter_column(column, type_=sa.String(length=tx_hash), existing_type=sa.String(old_tx_hash))


def upgrade() -> None:
    op.create_table(
        "solana_networks",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=True),
        sa.Column("instructions", sa.BigInteger(), nullable=False),
        sa.Column("webhook_id", sa.String(length=128), nullable=True),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_type", sa.String(length=32), nullable=True),
        sa.Column("program_id", sa.String(length=44), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_solana_networks")),
    )
    _resize(ADDRESS, TX_HASH, EVM_ADDRESS, EVM_TX_HASH)


def downgrade() -> None:
    _resize(EVM_ADDRESS, EVM_TX_HASH, ADDRESS, TX_HASH)
    op.drop_table("solana_networks")
