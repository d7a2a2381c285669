"""mail store: messages, archive, address register, mailbox encryption flag

Revision ID: 0002_mailstore
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_mailstore"
down_revision = "0001"
branch_labels = None
depends_on = None


def _message_columns() -> list[sa.Column]:
    return [
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("mailbox_id", sa.String(length=24), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("modseq", sa.BigInteger(), nullable=False),
        sa.Column("thread", sa.String(length=24), nullable=False),
        sa.Column("idate", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hdate", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("seen", sa.Boolean(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("draft", sa.Boolean(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("forwarded", sa.Boolean(), nullable=False),
        sa.Column("blob", sa.String(length=64), nullable=False),
        sa.Column("msgid", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("from_text", sa.Text(), nullable=False),
        sa.Column("to_text", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("has_attachments", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("meta_data", sa.Text(), nullable=True),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("encrypt_messages", sa.Boolean(), nullable=False, server_default="0"))
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=24), nullable=False),
        *_message_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index(op.f("ix_messages_mailbox_id_uid"), "messages", ["mailbox_id", "uid"], unique=False)
    op.create_index(op.f("ix_messages_mailbox_id_idate"), "messages", ["mailbox_id", "idate"], unique=False)
    op.create_index(op.f("ix_messages_user_id_thread"), "messages", ["user_id", "thread"], unique=False)
    op.create_index(op.f("ix_messages_user_id_msgid"), "messages", ["user_id", "msgid"], unique=False)
    op.create_table(
        "archived_messages",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("message", sa.String(length=24), nullable=False),
        sa.Column("archived", sa.DateTime(timezone=True), nullable=False),
        *_message_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archived_messages")),
    )
    op.create_index(
        op.f("ix_archived_messages_user_id_archived"), "archived_messages", ["user_id", "archived"], unique=False
    )
    op.create_table(
        "address_register",
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("addrview", sa.String(length=320), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "addrview", name=op.f("pk_address_register")),
    )


def downgrade() -> None:
    op.drop_table("address_register")
    op.drop_index(op.f("ix_archived_messages_user_id_archived"), table_name="archived_messages")
    op.drop_table("archived_messages")
    for index in ("mailbox_id_uid", "mailbox_id_idate", "user_id_thread", "user_id_msgid"):
        op.drop_index(op.f(f"ix_messages_{index}"), table_name="messages")
    op.drop_table("messages")
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("encrypt_messages")
