"""graphql: per-wallet statistics of the chain (Ponder's userStatistics) and the ledger behind them

Revision ID: 0002_graphql
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_graphql"
down_revision = "0001"
branch_labels = ("graphql",)
depends_on = None

COUNTERS = (
    "mails_sent",
    "mails_received",
    "prepared_mails_sent",
    "prepared_mails_received",
    "delegations_given",
    "delegations_received",
)


def upgrade() -> None:
    op.create_table(
        "user_statistics",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("address", sa.String(length=44), nullable=False),
        *[sa.Column(counter, sa.BigInteger(), nullable=False) for counter in COUNTERS],
        sa.Column("first_mail_time", sa.BigInteger(), nullable=True),
        sa.Column("last_mail_time", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("chain_id", "address", name=op.f("pk_user_statistics")),
    )
    op.create_index(op.f("ix_user_statistics_address"), "user_statistics", ["address"], unique=False)
    op.create_table(
        "user_statistics_entries",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("counter", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=44), nullable=False),
        sa.Column("block_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "chain_id", "block_number", "log_index", "counter", name=op.f("pk_user_statistics_entries")
        ),
    )
    op.create_index(
        op.f("ix_user_statistics_entries_chain_id_address"),
        "user_statistics_entries",
        ["chain_id", "address"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_user_statistics_entries_chain_id_address"), table_name="user_statistics_entries")
    op.drop_table("user_statistics_entries")
    op.drop_index(op.f("ix_user_statistics_address"), table_name="user_statistics")
    op.drop_table("user_statistics")
