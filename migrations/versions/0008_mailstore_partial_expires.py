"""mail store: the index of message expiries holds only the messages that expire

Revision ID: 0008_mailstore_partial_expires
Revises: 0007_mailstore_register_disabled
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_mailstore_partial_expires"
down_revision = "0007_mailstore_register_disabled"
branch_labels = None
depends_on = None

EXPIRING = sa.text("expires IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_messages_expires", table_name="messages")
    op.create_index("ix_messages_expires", "messages", ["expires"], postgresql_where=EXPIRING, sqlite_where=EXPIRING)


def downgrade() -> None:
    op.drop_index("ix_messages_expires", table_name="messages")
    op.create_index("ix_messages_expires", "messages", ["expires"])
