"""Webhooks: URLs told about mail events of some types (optionally for one user); delivery fires them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import aggregate_id


class Webhook(Aggregate):
    @staticmethod
    def create_id(webhook_id: str) -> UUID:
        return aggregate_id("webhook", webhook_id)

    @event("Created")
    def __init__(self, webhook_id: str, types: list[str], user_id: str | None, url: str, created_at: datetime) -> None:
        self.webhook_id, self.types, self.user_id, self.url, self.deleted = webhook_id, types, user_id, url, False

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True
