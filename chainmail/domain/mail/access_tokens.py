"""The AccessToken aggregate: a user token from `POST /authenticate`, known only by its SHA-256.

WildDuck keeps these in Redis with a sliding TTL and an absolute lifetime; here the token's life is
events (issued, used, renewed, revoked) and whether it still works is a pure function of them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import natural_id

TOKEN_TTL = timedelta(days=14)  # api.accessControl.tokenTTL: idle time after which a session ends
TOKEN_LIFETIME = timedelta(days=180)  # api.accessControl.tokenLifetime: no session outlives this
# A use is recorded only when the last recorded one is older than this, so a busy session costs
# one event a minute, and its idle expiry is at most this much earlier than WildDuck's.
USE_RECORDING_INTERVAL = timedelta(seconds=60)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccessToken(Aggregate):
    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return natural_id("access-token", token_hash)

    @event("Issued")
    def __init__(
        self, token_hash: str, user_id: str, role: str, ttl: int, auth_version: int, created_at: datetime
    ) -> None:
        self.token_hash, self.user_id, self.role, self.ttl = token_hash, user_id, role, ttl
        self.auth_version, self.created_at, self.last_used = auth_version, created_at, created_at
        self.revoked = False

    @event("Used")
    def use(self, used_at: datetime) -> None:
        self.last_used = used_at

    @event("Renewed")
    def renew(self, auth_version: int, renewed_at: datetime) -> None:
        self.auth_version, self.last_used = auth_version, renewed_at

    @event("Revoked")
    def revoke(self, revoked_at: datetime) -> None:
        self.revoked = True


def token_alive(
    *, created: datetime, last_used: datetime, ttl: int, now: datetime, lifetime: timedelta = TOKEN_LIFETIME
) -> bool:
    """A token with a TTL slides its expiry with each use, up to its lifetime; one without never ages."""
    if ttl <= 0:
        return True
    return now < last_used + timedelta(seconds=ttl) and now < created + lifetime
