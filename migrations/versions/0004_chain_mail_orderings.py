"""chain mail orderings: indexes that serve the GraphQL orderings and filters of mails (newest first by
block or time, a wallet's mails in key order), in place of the single-column sender and recipient ones

Revision ID: 0004_chain_mail_orderings
Revises: 0003_chain_progress
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0004_chain_mail_orderings"
down_revision = "0003_chain_progress"
branch_labels = None
depends_on = None

KEY = ["chain_id", "block_number", "log_index"]


def upgrade() -> None:
    op.drop_index(op.f("ix_evm_mails_recipient"), table_name="evm_mails")
    op.drop_index(op.f("ix_evm_mails_sender"), table_name="evm_mails")
    op.create_index(
        op.f("ix_evm_mails_block_number_chain_id_log_index"), "evm_mails", ["block_number", "chain_id", "log_index"]
    )
    op.create_index(op.f("ix_evm_mails_block_time_chain_id_block_number_log_index"), "evm_mails", ["block_time", *KEY])
    op.create_index(op.f("ix_evm_mails_sender_chain_id_block_number_log_index"), "evm_mails", ["sender", *KEY])
    op.create_index(op.f("ix_evm_mails_recipient_chain_id_block_number_log_index"), "evm_mails", ["recipient", *KEY])


def downgrade() -> None:
    op.drop_index(op.f("ix_evm_mails_recipient_chain_id_block_number_log_index"), table_name="evm_mails")
    op.drop_index(op.f("ix_evm_mails_sender_chain_id_block_number_log_index"), table_name="evm_mails")
    op.drop_index(op.f("ix_evm_mails_block_time_chain_id_block_number_log_index"), table_name="evm_mails")
    op.drop_index(op.f("ix_evm_mails_block_number_chain_id_log_index"), table_name="evm_mails")
    op.create_index(op.f("ix_evm_mails_sender"), "evm_mails", ["sender"])
    op.create_index(op.f("ix_evm_mails_recipient"), "evm_mails", ["recipient"])
