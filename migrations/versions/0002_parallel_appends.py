"""write path: projection positions are (transaction, notification id) pairs; a stopped projection says why

Revision ID: 0002_parallel_appends
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_parallel_appends"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projection_tracking") as batch:
        batch.add_column(sa.Column("tx", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projection_tracking") as batch:
        batch.drop_column("error")
        batch.drop_column("tx")
