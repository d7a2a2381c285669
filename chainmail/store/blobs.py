"""Content-addressed storage for large bytes: events carry the sha256 and size, this table the bytes.

Big bytes move to and from the database in pieces (`PIECE_BYTES`): a database connection keeps the largest
buffer it ever needed for as long as it lives (libpq's input and output buffers; SQLite's copy of the last
value bound to a cached statement), so one 30 MB message sent as one parameter left 30 MB behind in every
pooled connection that carried it. On PostgreSQL big bytes go in by binary `COPY` written in pieces and
come out by `substring` in pieces (the column is stored uncompressed so a piece reads only its own TOAST
chunks); on SQLite through incremental blob I/O."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Connection, LargeBinary, String, Table, case, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chainmail.store.prepared import Prepared
from chainmail.store.schema import metadata

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)


LOOK_FIRST_BYTES = 65_536
PIECE_BYTES = 1 << 20  # bytes bigger than this move in pieces of this size
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)


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
    if len(data) < LOOK_FIRST_BYTES:
        _insert(tx, ref, data)  # an insert that leaves a present row alone
        return ref
    # Big bytes are looked for first so that bytes already stored are not sent again (on PostgreSQL under a
    # lock of their own: a racing writer of the same bytes waits, then finds them).
    if tx.dialect.name == "postgresql":
        tx.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"blob:{ref.sha256}"})
    if tx.execute(select(blobs.c.sha256).where(blobs.c.sha256 == ref.sha256)).first() is not None:
        return ref
    if len(data) <= PIECE_BYTES:
        _insert(tx, ref, data)
    elif tx.dialect.name == "postgresql":
        _copy_in_pieces(tx, ref, data)
    else:
        _write_in_pieces(tx, ref, data)
    return ref


def get_blob(tx: Connection, sha256: str) -> bytes | None:
    """The bytes stored under `sha256`, or None."""
    small = case((blobs.c.size <= PIECE_BYTES, blobs.c.data))
    row = tx.execute(select(blobs.c.size, small.label("data")).where(blobs.c.sha256 == sha256)).first()
    if row is None:
        return None
    if row.data is not None:
        return bytes(row.data)
    if tx.dialect.name == "postgresql":
        return _read_slices(tx, sha256, int(row.size))
    return _read_in_pieces(tx, sha256)


# a blob already stored stays as it is (two messages with the same bytes, or an attachment stored before)
_INSERT = {
    "postgresql": Prepared(pg_insert(blobs).on_conflict_do_nothing(), ["sha256", "size", "data"]),
    "sqlite": Prepared(insert(blobs).prefix_with("OR IGNORE"), ["sha256", "size", "data"]),
}


def _insert(tx: Connection, ref: BlobRef, data: bytes) -> None:
    _INSERT[tx.dialect.name].run(tx, {"sha256": ref.sha256, "size": ref.size, "data": data})


def _copy_in_pieces(tx: Connection, ref: BlobRef, data: bytes) -> None:
    """One row by binary COPY (signature, a tuple of three fields, the trailer), its bytes sent in pieces."""
    sha = ref.sha256.encode()
    head = _PG_COPY_HEADER + struct.pack("!hi", 3, len(sha)) + sha + struct.pack("!iqi", 8, ref.size, ref.size)
    view = memoryview(data)
    statement = "COPY blobs (sha256, size, data) FROM STDIN (FORMAT BINARY)"
    with tx.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.write(head)
        for start in range(0, len(view), PIECE_BYTES):
            copy.write(view[start : start + PIECE_BYTES])
        copy.write(struct.pack("!h", -1))


def _read_slices(tx: Connection, sha256: str, size: int) -> bytes | None:
    found = bytearray()
    piece = text("SELECT substring(data FROM :start FOR :length) FROM blobs WHERE sha256 = :sha256")
    for start in range(0, size, PIECE_BYTES):
        part = tx.execute(piece, {"start": start + 1, "length": PIECE_BYTES, "sha256": sha256}).scalar()
        if part is None:
            return None  # removed in between (the connection reads in autocommit)
        found += part
    return bytes(found)


def _write_in_pieces(tx: Connection, ref: BlobRef, data: bytes) -> None:
    """The row with a zeroblob of the right size, then its bytes written into it piece by piece."""
    connection = tx.connection.driver_connection
    cursor = connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            "INSERT OR IGNORE INTO blobs (sha256, size, data) VALUES (?, ?, zeroblob(?))",
            (ref.sha256, ref.size, ref.size),
        )
        if cursor.rowcount == 1:
            view = memoryview(data)
            with connection.blobopen("blobs", "data", cursor.lastrowid) as blob:  # type: ignore[union-attr]
                for start in range(0, len(view), PIECE_BYTES):
                    blob.write(view[start : start + PIECE_BYTES])
    finally:
        cursor.close()


def _read_in_pieces(tx: Connection, sha256: str) -> bytes | None:
    rowid = tx.execute(text("SELECT rowid FROM blobs WHERE sha256 = :sha256"), {"sha256": sha256}).scalar()
    if rowid is None:
        return None
    found = bytearray()
    with tx.connection.driver_connection.blobopen("blobs", "data", rowid, readonly=True) as blob:  # type: ignore[union-attr]
        while piece := blob.read(PIECE_BYTES):
            found += piece
    return bytes(found)
