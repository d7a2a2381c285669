"""identity: wallet logins, referral consumptions, OAuth grants

Revision ID: 0002_identity
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_identity"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_logins",
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("chain_type", sa.String(length=8), nullable=False),
        sa.Column("first_authenticated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_authenticated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_via", sa.String(length=16), nullable=False),
        sa.Column("logins", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("wallet", name=op.f("pk_wallet_logins")),
    )
    op.create_table(
        "referral_consumptions",
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("chain_type", sa.String(length=8), nullable=False),
        sa.Column("referral_code", sa.String(length=64), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wallet", name=op.f("pk_referral_consumptions")),
    )
    op.create_index(
        op.f("ix_referral_consumptions_referral_code_consumed_at"),
        "referral_consumptions",
        ["referral_code", "consumed_at"],
        unique=False,
    )
    op.create_table(
        "oauth_grants",
        sa.Column("grant_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("chain_type", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=512), nullable=False),
        sa.Column("privacy", sa.String(length=16), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("access_tokens", sa.Integer(), nullable=False),
        sa.Column("refresh_rotations", sa.Integer(), nullable=False),
        sa.Column("last_token_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_oauth_grants")),
    )
    op.create_index(op.f("ix_oauth_grants_wallet_granted_at"), "oauth_grants", ["wallet", "granted_at"], unique=False)
    op.create_index(
        op.f("ix_oauth_grants_client_id_granted_at"), "oauth_grants", ["client_id", "granted_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oauth_grants_client_id_granted_at"), table_name="oauth_grants")
    op.drop_index(op.f("ix_oauth_grants_wallet_granted_at"), table_name="oauth_grants")
    op.drop_table("oauth_grants")
    op.drop_index(op.f("ix_referral_consumptions_referral_code_consumed_at"), table_name="referral_consumptions")
    op.drop_table("referral_consumptions")
    op.drop_table("wallet_logins")
