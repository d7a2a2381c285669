"""rewards: points balances and ledger, site statistics, referral codes, KYC applications and results

Revision ID: 0002_rewards
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_rewards"
down_revision = "0001"
branch_labels = ("rewards",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "points_balances",
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("chain_type", sa.String(length=8), nullable=False),
        sa.Column("points_earned", sa.BigInteger(), nullable=False),
        sa.Column("total_activities", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wallet", name=op.f("pk_points_balances")),
    )
    op.create_index(
        op.f("ix_points_balances_points_earned_created_at_wallet"),
        "points_balances",
        ["points_earned", "created_at", "wallet"],
        unique=False,
    )
    op.create_table(
        "points_ledger",
        sa.Column("day_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("activity", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_before", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day_id", "version", name=op.f("pk_points_ledger")),
    )
    op.create_index(op.f("ix_points_ledger_wallet_created_at"), "points_ledger", ["wallet", "created_at"], unique=False)
    op.create_table(
        "points_site_stats",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("total_points", sa.BigInteger(), nullable=False),
        sa.Column("total_users", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_points_site_stats")),
    )
    op.create_table(
        "points_site_wallets",
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("wallet", name=op.f("pk_points_site_wallets")),
    )
    op.create_table(
        "referral_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("chain_type", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_referral_codes")),
    )
    op.create_index(op.f("ix_referral_codes_wallet"), "referral_codes", ["wallet"], unique=True)
    op.create_table(
        "kyc_applications",
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("chain_type", sa.String(length=8), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("applicant_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wallet", name=op.f("pk_kyc_applications")),
    )
    op.create_index(op.f("ix_kyc_applications_application_id"), "kyc_applications", ["application_id"], unique=True)
    op.create_table(
        "kyc_results",
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.String(length=8), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("wallet", "level", name=op.f("pk_kyc_results")),
    )


def downgrade() -> None:
    op.drop_table("kyc_results")
    op.drop_index(op.f("ix_kyc_applications_application_id"), table_name="kyc_applications")
    op.drop_table("kyc_applications")
    op.drop_index(op.f("ix_referral_codes_wallet"), table_name="referral_codes")
    op.drop_table("referral_codes")
    op.drop_table("points_site_wallets")
    op.drop_table("points_site_stats")
    op.drop_index(op.f("ix_points_ledger_wallet_created_at"), table_name="points_ledger")
    op.drop_table("points_ledger")
    op.drop_index(op.f("ix_points_balances_points_earned_created_at_wallet"), table_name="points_balances")
    op.drop_table("points_balances")
