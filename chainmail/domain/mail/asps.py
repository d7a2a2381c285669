"""Application-specific passwords: 16 lowercase letters for one app, limited to some scopes, optionally
expiring when unused for their TTL."""

from __future__ import annotations

import hashlib
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import aggregate_id

ASP_SCOPES = ("imap", "pop3", "smtp")


def asp_selector(password: str) -> str:
    """WildDuck's quick, high-collision key narrowing which stored hashes to try (0..1f)."""
    return format(sum(hashlib.sha1(password.encode()).digest()) % 32, "x")


class ApplicationPassword(Aggregate):
    @staticmethod
    def create_id(asp_id: str) -> UUID:
        return aggregate_id("asp", asp_id)

    @event("Created")
    def __init__(
        self,
        asp_id: str,
        user_id: str,
        description: str,
        scopes: list[str],
        password_hash: str,
        selector: str,
        ttl: int,
        expires: datetime | None,
        created_at: datetime,
    ) -> None:
        self.asp_id, self.user_id, self.scopes, self.password_hash = asp_id, user_id, scopes, password_hash
        self.ttl, self.expires, self.deleted = ttl, expires, False

    @event("Used")
    def use(self, used_at: datetime, auth_event: str, ip: str | None, expires: datetime | None) -> None:
        self.expires = expires

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True
