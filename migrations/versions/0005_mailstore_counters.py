"""mail store: message counters on mailboxes

Revision ID: 0005_mailstore_counters
Revises: 0004_mailstore_audits
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_mailstore_counters"
down_revision = "0004_mailstore_audits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        for name in ("total", "unseen", "size"):
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        for name in ("total", "unseen", "size"):
            batch.drop_column(name)
