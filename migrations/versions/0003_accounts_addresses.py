"""accounts: address profiles, forwarded addresses and address tags

Revision ID: 0003_accounts_addresses
Revises: 0002_accounts
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_accounts_addresses"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("addresses") as batch:
        batch.add_column(sa.Column("forwarded", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("profile", sa.JSON(), nullable=True))
    op.create_table(
        "address_tags",
        sa.Column("address_id", sa.String(length=24), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("address_id", "tag", name=op.f("pk_address_tags")),
    )
    op.create_index(op.f("ix_address_tags_tag"), "address_tags", ["tag"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_address_tags_tag"), table_name="address_tags")
    op.drop_table("address_tags")
    with op.batch_alter_table("addresses") as batch:
        batch.drop_column("profile")
        batch.drop_column("forwarded")
