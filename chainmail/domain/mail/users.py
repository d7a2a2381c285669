"""The User aggregate: a WildDuck account."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import aggregate_id


class User(Aggregate):
    @staticmethod
    def create_id(user_id: str) -> UUID:
        return aggregate_id("user", user_id)

    @event("Created")
    def __init__(
        self,
        user_id: str,
        username: str,
        unameview: str,
        name: str,
        address: str,
        address_id: str | None,
        password_hash: str,
        tags: list[str],
        profile: dict[str, Any],
        created_at: datetime,
    ) -> None:
        self.user_id, self.username, self.unameview = user_id, username, unameview
        self.address = address
        self.address_ids: list[str] = [address_id] if address_id else []
        self.deleted_at: datetime | None = None
        self.delete_after: datetime | None = None
        self.deletion_task: str | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @event("Deleted")
    def delete(self, deleted_at: datetime, delete_after: datetime, task: str, address_ids: list[str]) -> None:
        self.deleted_at, self.delete_after, self.deletion_task = deleted_at, delete_after, task
        self.address_ids = []

    @event("DeletionRescheduled")
    def reschedule_deletion(self, delete_after: datetime) -> None:
        self.delete_after = delete_after
