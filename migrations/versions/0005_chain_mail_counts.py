"""chain mail counts: a wallet's mails counted from the index alone (its sender and recipient indexes
carry the mail's kind on PostgreSQL), for GraphQL's totalCount

Revision ID: 0005_chain_mail_counts
Revises: 0004_chain_mail_orderings
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0005_chain_mail_counts"
down_revision = "0004_chain_mail_orderings"
branch_labels = None
depends_on = None

KEY = ["chain_id", "block_number", "log_index"]


def upgrade() -> None:
    for wallet in ("sender", "recipient"):
        name = op.f(f"ix_evm_mails_{wallet}_chain_id_block_number_log_index")
        op.drop_index(name, table_name="evm_mails")
        op.create_index(name, "evm_mails", [wallet, *KEY], postgresql_include=["kind"])


def downgrade() -> None:
    for wallet in ("sender", "recipient"):
        name = op.f(f"ix_evm_mails_{wallet}_chain_id_block_number_log_index")
        op.drop_index(name, table_name="evm_mails")
        op.create_index(name, "evm_mails", [wallet, *KEY])
