"""delivery: the outbound queue read model

Revision ID: 0002_delivery
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_delivery"
down_revision = "0001"
branch_labels = ("delivery",)
depends_on = None

INDEXES = (("status", "next_attempt"), ("parent_id",), ("user_id", "reason", "queued"))


def upgrade() -> None:
    op.create_table(
        "outbound_queue",
        sa.Column("queue_id", sa.String(length=24), nullable=False),
        sa.Column("seq", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=True),
        sa.Column("parent_id", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=True),
        sa.Column("blob", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=True),
        sa.Column("queued", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("queue_id", "seq", name=op.f("pk_outbound_queue")),
    )
    for columns in INDEXES:
        op.create_index(op.f("ix_outbound_queue_" + "_".join(columns)), "outbound_queue", list(columns), unique=False)


def downgrade() -> None:
    for columns in INDEXES:
        op.drop_index(op.f("ix_outbound_queue_" + "_".join(columns)), table_name="outbound_queue")
    op.drop_table("outbound_queue")
