"""What a user keeps beside messages: stored files, message filters and the autoreply."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import aggregate_id


class StoredFile(Aggregate):
    """A file uploaded to a user's storage (to attach to drafts later); the bytes are a blob."""

    @staticmethod
    def create_id(file_id: str) -> UUID:
        return aggregate_id("storedfile", file_id)

    @event("Uploaded")
    def __init__(
        self,
        file_id: str,
        user_id: str,
        filename: str | None,
        content_type: str | None,
        cid: str | None,
        sha256: str,
        md5: str,
        size: int,
        created_at: datetime,
    ) -> None:
        self.file_id, self.user_id, self.sha256, self.size = file_id, user_id, sha256, size
        self.deleted = False

    @event("Deleted")
    def delete(self, user_id: str) -> None:
        self.deleted = True


class Filter(Aggregate):
    """A message filter: a query matched against each delivered message and the action taken."""

    @staticmethod
    def create_id(filter_id: str) -> UUID:
        return aggregate_id("filter", filter_id)

    @event("Created")
    def __init__(
        self,
        filter_id: str,
        user_id: str,
        name: str,
        query: dict[str, Any],
        action: dict[str, Any],
        disabled: bool,
        meta_data: str | None,
        created_at: datetime,
    ) -> None:
        self.filter_id, self.user_id = filter_id, user_id
        self.query, self.action, self.disabled, self.deleted = query, action, disabled, False

    @event("Updated")
    def update(self, user_id: str, changes: dict[str, Any]) -> None:
        for key in ("query", "action", "disabled"):
            if key in changes:
                setattr(self, key, changes[key])

    @event("Deleted")
    def delete(self, user_id: str) -> None:
        self.deleted = True


class Autoreply(Aggregate):
    """A user's out-of-office answer; one per user, so its id follows from the user's."""

    @staticmethod
    def create_id(user_id: str) -> UUID:
        return aggregate_id("autoreply", user_id)

    @event("Started")
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.settings: dict[str, Any] | None = None

    @event("Set")
    def set(self, user_id: str, settings: dict[str, Any], created_at: datetime) -> None:
        self.settings = settings

    @event("Cleared")
    def clear(self, user_id: str) -> None:
        self.settings = None


class Audit(Aggregate):
    """A lawful-access audit of one user's mail over a time window, exportable until it expires."""

    @staticmethod
    def create_id(audit_id: str) -> UUID:
        return aggregate_id("audit", audit_id)

    @event("Created")
    def __init__(
        self,
        audit_id: str,
        user_id: str,
        start: datetime | None,
        end: datetime | None,
        expires: datetime,
        copied: int,
        created_at: datetime,
    ) -> None:
        self.audit_id, self.user_id, self.start, self.end, self.expires = audit_id, user_id, start, end, expires
