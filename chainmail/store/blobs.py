"""Content-addressed storage for large bytes: events carry the sha256 and size, this table the bytes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Connection, LargeBinary, String, Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chainmail.store.schema import metadata

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)


LOOK_FIRST_BYTES = 65_536


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    size: int


def blob_ref(data: bytes) -> BlobRef:
    """The reference `put_blob` gives `data`."""
    return BlobRef(hashlib.sha256(data).hexdigest(), len(data))


def put_blob(tx: Connection, data: bytes) -> BlobRef:
    """Store `data` once, however often it is put; the same bytes always get the same reference."""
    ref = blob_ref(data)
    # Small bytes go straight to an insert that leaves a present row alone; big ones are looked for first
    # so that bytes already stored are not sent again.
    if (
        len(data) < LOOK_FIRST_BYTES
        or tx.execute(select(blobs.c.sha256).where(blobs.c.sha256 == ref.sha256)).first() is None
    ):
        values = {"sha256": ref.sha256, "size": ref.size, "data": data}
        # A racing writer may store the same bytes between the look and the insert: that is fine.
        if tx.dialect.name == "postgresql":
            tx.execute(pg_insert(blobs).values(**values).on_conflict_do_nothing())
        else:
            tx.execute(insert(blobs).values(**values).prefix_with("OR IGNORE"))
    return ref


def get_blob(tx: Connection, sha256: str) -> bytes | None:
    return tx.execute(select(blobs.c.data).where(blobs.c.sha256 == sha256)).scalar_one_or_none()
