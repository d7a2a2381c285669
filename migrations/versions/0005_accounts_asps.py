"""accounts: application-specific passwords

Revision ID: 0005_accounts_asps
Revises: 0004_accounts_admin
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_accounts_asps"
down_revision = "0004_accounts_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asps",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("ttl", sa.BigInteger(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auth_event", sa.String(length=24), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asps")),
    )
    op.create_index(op.f("ix_asps_user_id"), "asps", ["user_id"], unique=False)
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_table("asps")
