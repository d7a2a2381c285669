"""accounts: ACME challenges (read model) and the shared rate-limit counters (operational state)

Revision ID: 0002_accounts_security
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_accounts_security"
down_revision = "0001"
branch_labels = ("accounts_security",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acme_challenges",
        sa.Column("cert_id", sa.String(length=24), nullable=False),
        sa.Column("servername", sa.String(length=255), nullable=False),
        sa.Column("token", sa.String(length=256), nullable=False),
        sa.Column("key_authorization", sa.Text(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cert_id", name=op.f("pk_acme_challenges")),
    )
    op.create_index(
        op.f("ix_acme_challenges_servername_token"), "acme_challenges", ["servername", "token"], unique=False
    )
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("hits", sa.Text(), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limits")),
    )
    op.create_index(op.f("ix_rate_limits_expires"), "rate_limits", ["expires"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_limits_expires"), table_name="rate_limits")
    op.drop_table("rate_limits")
    op.drop_index(op.f("ix_acme_challenges_servername_token"), table_name="acme_challenges")
    op.drop_table("acme_challenges")
