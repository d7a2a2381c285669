"""Authentication events: each attempt to sign in (or change credentials) is one recorded fact.

The `authlog` read model merges similar events (same protocol, IP, action, result within a 6-hour
bucket) the way WildDuck does, counting them in `events` and stamping `last`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import aggregate_id

AUTHLOG_TIME = timedelta(days=30)  # const:authlog:time
AUTHLOG_BUCKET = timedelta(hours=6)


def merge_key(entry: dict[str, Any]) -> str:
    """Events with the same key in one bucket are one authlog row (WildDuck's md5 key)."""
    parts = [str(entry.get(k) or "") for k in ("protocol", "ip", "action", "result", "target")]
    return hashlib.md5("^".join(parts).encode()).hexdigest()


class AuthEvent(Aggregate):
    @staticmethod
    def create_id(event_id: str) -> UUID:
        return aggregate_id("authlog", event_id)

    @event("Recorded")
    def __init__(
        self, event_id: str, user_id: str, entry: dict[str, Any], key: str, created_at: datetime, expires_at: datetime
    ) -> None:
        self.event_id, self.user_id, self.entry = event_id, user_id, entry
