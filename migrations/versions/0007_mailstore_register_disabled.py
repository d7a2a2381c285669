"""mail store: address register entries can be disabled (PUT /users/:user/addressregister/:id)

Revision ID: 0007_mailstore_register_disabled
Revises: 0006_mailstore_housekeeping
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_mailstore_register_disabled"
down_revision = "0006_mailstore_housekeeping"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("address_register") as batch:
        batch.add_column(sa.Column("disabled", sa.Boolean(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("address_register") as batch:
        batch.drop_column("disabled")
