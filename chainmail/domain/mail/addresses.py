"""The Address aggregate: an e-mail address that delivers to a user."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import aggregate_id


class Address(Aggregate):
    @staticmethod
    def create_id(address_id: str) -> UUID:
        return aggregate_id("address", address_id)

    @event("Created")
    def __init__(
        self,
        address_id: str,
        user_id: str,
        address: str,
        addrview: str,
        name: str,
        main: bool,
        tags: list[str],
        created_at: datetime,
    ) -> None:
        self.address_id, self.user_id, self.address, self.addrview = address_id, user_id, address, addrview
        self.name, self.main, self.tags = name, main, list(tags)
        self.profile: dict[str, Any] = {}  # metaData, internalData; forwarded: targets, forwards, autoreply
        self.forwarded = False
        self.deleted = False

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True

    # -- accounts: changes after creation ------------------------------------------------------

    @event("Updated")
    def update(self, changes: dict[str, Any], updated_at: datetime) -> None:
        """Changed fields by WildDuck name; `address` comes with its `addrview`."""
        for key, value in changes.items():
            if key in ("address", "addrview", "name", "forwarded"):
                setattr(self, key, value)
            elif key == "tags":
                self.tags = list(value)
            else:
                self.profile[key] = value

    @event("MainChanged")
    def set_main(self, main: bool) -> None:
        self.main = main

    @event("Restored")
    def restore(self, row: dict[str, Any]) -> None:
        """Back with its restored user; `row` is what the read models show again."""
        self.deleted = False
