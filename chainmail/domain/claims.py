"""Claims: unique names (usernames, addresses, aliases) as aggregates with deterministic ids.

Two commands that race for the same name both try to create version 1 of the same aggregate;
the event store lets one win and the other gets a conflict, so uniqueness needs no read model.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import natural_id


class Claim(Aggregate):
    """Who holds a unique name in one namespace, if anyone."""

    @staticmethod
    def create_id(namespace: str, key: str) -> UUID:
        return natural_id("claim:" + namespace, key)

    @event("Claimed")
    def __init__(self, namespace: str, key: str, holder: str) -> None:
        self.namespace, self.key, self.holder = namespace, key, holder

    @property
    def is_held(self) -> bool:
        return self.holder != ""

    @event("Reclaimed")
    def reclaim(self, holder: str) -> None:
        self.holder = holder

    @event("Released")
    def release(self) -> None:
        self.holder = ""
