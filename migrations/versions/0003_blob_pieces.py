"""blobs stored uncompressed on PostgreSQL, so that big ones are read in pieces

Revision ID: 0003_blob_pieces
Revises: 0002_parallel_appends
"""

from __future__ import annotations

from alembic import op

revision = "0003_blob_pieces"
down_revision = "0002_parallel_appends"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # EXTERNAL: out of line, not compressed, so `substring` fetches only the TOAST chunks of its piece
    # (compressed, every piece would decompress the whole value). Only rows written from now on change.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTENDED")
