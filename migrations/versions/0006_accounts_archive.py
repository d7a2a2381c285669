"""accounts: the archive of deleted accounts that restore reads

Revision ID: 0006_accounts_archive
Revises: 0005_accounts_asps
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_accounts_archive"
down_revision = "0005_accounts_asps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_archive",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delete_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("task", sa.String(length=24), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_archive")),
    )
    op.create_table(
        "account_archive_addresses",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("addrview", sa.String(length=320), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("with_account", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_archive_addresses")),
    )
    op.create_index(
        op.f("ix_account_archive_addresses_user_id"), "account_archive_addresses", ["user_id"], unique=False
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_table("account_archive_addresses")
    op.drop_table("account_archive")
