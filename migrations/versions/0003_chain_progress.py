"""chain progress: each chain's backfill rates beside its head (blocks and events per second)

Revision ID: 0003_chain_progress
Revises: 0002_chain
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_chain_progress"
down_revision = "0002_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("evm_chain_heads", sa.Column("indexed_block", sa.BigInteger(), nullable=True))
    op.add_column("evm_chain_heads", sa.Column("blocks_per_second", sa.Float(), nullable=True))
    op.add_column("evm_chain_heads", sa.Column("events_per_second", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("evm_chain_heads", "events_per_second")
    op.drop_column("evm_chain_heads", "blocks_per_second")
    op.drop_column("evm_chain_heads", "indexed_block")
