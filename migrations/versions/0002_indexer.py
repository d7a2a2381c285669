"""indexer: gas used and effective gas price of the indexed transactions (from block receipts)

Revision ID: 0002_indexer
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_indexer"
down_revision = "0001"
branch_labels = ("indexer",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evm_transaction_gas",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("tx_from", sa.String(length=42), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=False),
        sa.Column("gas_price", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "tx_hash", name=op.f("pk_evm_transaction_gas")),
    )
    op.create_index(
        op.f("ix_evm_transaction_gas_chain_id_block_number"),
        "evm_transaction_gas",
        ["chain_id", "block_number"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_evm_transaction_gas_chain_id_block_number"), table_name="evm_transaction_gas")
    op.drop_table("evm_transaction_gas")
