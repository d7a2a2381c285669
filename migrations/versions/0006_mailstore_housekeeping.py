"""mail store: WildDuck's thread keys; indexes the housekeeping sweeps use (expired messages, old archive)

Revision ID: 0006_mailstore_housekeeping
Revises: 0005_mailstore_counters
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_mailstore_housekeeping"
down_revision = "0005_mailstore_counters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("user_id", sa.String(24), nullable=False),
        sa.Column("subject", sa.String(40), nullable=False),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("thread", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "subject", "ref", name=op.f("pk_threads")),
    )
    op.create_index("ix_messages_expires", "messages", ["expires"])
    op.create_index("ix_archived_messages_archived", "archived_messages", ["archived"])


def downgrade() -> None:
    op.drop_index("ix_archived_messages_archived", table_name="archived_messages")
    op.drop_index("ix_messages_expires", table_name="messages")
    op.drop_table("threads")
