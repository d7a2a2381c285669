"""The sign-in nonce of a username: issued on first need, replaced on request; a signature over a
message with any other nonce is stale."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import natural_id


class Nonce(Aggregate):
    @staticmethod
    def create_id(username: str) -> UUID:
        return natural_id("identity:nonce", username)

    @event("Issued")
    def __init__(self, username: str, nonce: str, issued_at: datetime) -> None:
        self.username, self.nonce, self.issued_at = username, nonce, issued_at

    @event("Replaced")
    def replace(self, nonce: str, issued_at: datetime) -> None:
        self.nonce, self.issued_at = nonce, issued_at
