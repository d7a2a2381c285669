"""identity: wallet mail templates and webhooks

Revision ID: 0003_identity_wallet_tools
Revises: 0002_identity
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_identity_wallet_tools"
down_revision = "0002_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "mail_templates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("id_hash", sa.String(length=66), nullable=False),
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("chain_type", sa.String(length=8), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_templates")),
    )
    op.create_index(op.f("ix_mail_templates_id_hash"), "mail_templates", ["id_hash"], unique=False)
    op.create_index(
        op.f("ix_mail_templates_wallet_created_at"), "mail_templates", ["wallet", "created_at"], unique=False
    )
    op.create_table(
        "wallet_webhooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("id_hash", sa.String(length=66), nullable=False),
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("chain_type", sa.String(length=8), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_webhooks")),
    )
    op.create_index(op.f("ix_wallet_webhooks_id_hash"), "wallet_webhooks", ["id_hash"], unique=False)
    op.create_index(
        op.f("ix_wallet_webhooks_wallet_created_at"), "wallet_webhooks", ["wallet", "created_at"], unique=False
    )


def downgrade() -> None:

    op.drop_index(op.f("ix_wallet_webhooks_wallet_created_at"), table_name="wallet_webhooks")
    op.drop_index(op.f("ix_wallet_webhooks_id_hash"), table_name="wallet_webhooks")
    op.drop_table("wallet_webhooks")
    op.drop_index(op.f("ix_mail_templates_wallet_created_at"), table_name="mail_templates")
    op.drop_index(op.f("ix_mail_templates_id_hash"), table_name="mail_templates")
    op.drop_table("mail_templates")
