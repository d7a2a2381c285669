"""The Address aggregate: an e-mail address that delivers to a user."""

from __future__ import annotations

from datetime import datetime
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
        self.deleted = False

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True
