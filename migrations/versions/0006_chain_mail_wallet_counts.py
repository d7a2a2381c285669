"""chain mail wallet counts: how many mails of each kind each wallet sent and received and each chain holds,
kept with the mails, so GraphQL's totalCount of a wallet's mails reads a row per kind instead of counting
them; filled from the mails already indexed

Revision ID: 0006_chain_mail_wallet_counts
Revises: 0005_chain_mail_counts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_chain_mail_wallet_counts"
down_revision = "0005_chain_mail_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evm_mail_counts",
        sa.Column("role", sa.String(length=9), nullable=False),
        sa.Column("wallet", sa.String(length=44), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mails", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("role", "wallet", "chain_id", "kind", name=op.f("pk_evm_mail_counts")),
    )
    for role, wallet in (("sender", "sender"), ("recipient", "recipient")):
        op.execute(
            f"INSERT INTO evm_mail_counts (role, wallet, chain_id, kind, mails) "
            f"SELECT '{role}', {wallet}, chain_id, kind, count(*) FROM evm_mails "
            f"WHERE {wallet} IS NOT NULL GROUP BY {wallet}, chain_id, kind"
        )
    op.execute(
        "INSERT INTO evm_mail_counts (role, wallet, chain_id, kind, mails) "
        "SELECT 'chain', '', chain_id, kind, count(*) FROM evm_mails GROUP BY chain_id, kind"
    )


def downgrade() -> None:
    op.drop_table("evm_mail_counts")
