"""accounts: settings, domain aliases, domain access, webhooks, DKIM keys, TLS certificates

Revision ID: 0004_accounts_admin
Revises: 0003_accounts_addresses
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_accounts_admin"
down_revision = "0003_accounts_addresses"
branch_labels = None
depends_on = None

TABLES = ("certs", "dkim_keys", "webhooks", "domain_access", "domain_aliases", "settings")


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "domain_aliases",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_aliases")),
    )
    op.create_index(op.f("ix_domain_aliases_alias"), "domain_aliases", ["alias"], unique=True)
    op.create_index(op.f("ix_domain_aliases_domain"), "domain_aliases", ["domain"], unique=False)
    op.create_table(
        "domain_access",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("tagview", sa.String(length=128), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_access")),
    )
    op.create_index(
        op.f("ix_domain_access_tagview_action_domain"), "domain_access", ["tagview", "action", "domain"], unique=False
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_user_id"), "webhooks", ["user_id"], unique=False)
    op.create_table(
        "dkim_keys",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("selector", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("dns_public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dkim_keys")),
    )
    op.create_index(op.f("ix_dkim_keys_domain"), "dkim_keys", ["domain"], unique=True)
    op.create_table(
        "certs",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("servername", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("acme", sa.Boolean(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("cert", sa.Text(), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("alt_names", sa.JSON(), nullable=False),
        sa.Column("alt_names_text", sa.Text(), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certs")),
    )
    op.create_index(op.f("ix_certs_servername"), "certs", ["servername"], unique=True)
    # ### end Alembic commands ###


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
