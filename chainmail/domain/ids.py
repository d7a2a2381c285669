"""Identifiers: WildDuck's 24-hex ObjectIds, the aggregate UUIDs behind them, and ids for natural keys."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import NewType

ObjectId = NewType("ObjectId", str)

_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
# Fixed namespace for uuid5 ids of natural keys (usernames, addresses, chain logs...).
NATURAL_KEYS = uuid.UUID("6f1d7c3e-2b8a-5e4f-9c1d-0a7b3e5d9f21")


def is_object_id(value: object) -> bool:
    return isinstance(value, str) and bool(_OBJECT_ID.match(value))


def object_id_from(moment: datetime, entropy: bytes) -> ObjectId:
    """A MongoDB-style ObjectId: 4 bytes of seconds since the epoch, then 8 bytes of caller-given entropy."""
    if len(entropy) != 8:
        raise ValueError("an ObjectId takes 8 bytes of entropy")
    seconds = int(moment.timestamp()) & 0xFFFFFFFF
    return ObjectId(seconds.to_bytes(4, "big").hex() + entropy.hex())


def object_id_time(oid: str) -> int:
    """Seconds since the epoch encoded in an ObjectId."""
    return int(oid[:8], 16)


def aggregate_id(kind: str, oid: str) -> uuid.UUID:
    """The aggregate id behind an ObjectId: a 4-byte tag for the kind, then the 12 ObjectId bytes.

    Reversible (`object_id_of`), so events and read models can always name the WildDuck id.
    """
    if not is_object_id(oid):
        raise ValueError(f"not an ObjectId: {oid!r}")
    tag = uuid.uuid5(NATURAL_KEYS, "kind:" + kind).bytes[:4]
    return uuid.UUID(bytes=tag + bytes.fromhex(oid))


def object_id_of(aggregate: uuid.UUID) -> ObjectId:
    return ObjectId(aggregate.bytes[4:].hex())


def natural_id(namespace: str, key: str) -> uuid.UUID:
    """A deterministic id for something the world names (a username, an address, a chain log)."""
    return uuid.uuid5(NATURAL_KEYS, f"{namespace}:{key}")
