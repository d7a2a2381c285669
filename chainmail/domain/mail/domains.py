"""Domain aliases (an alias domain delivers and signs in as its target domain) and domain access lists
(per-tag allow and block lists of sender domains)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import aggregate_id


class DomainAlias(Aggregate):
    @staticmethod
    def create_id(alias_id: str) -> UUID:
        return aggregate_id("domainalias", alias_id)

    @event("Created")
    def __init__(self, alias_id: str, alias: str, domain: str, created_at: datetime) -> None:
        self.alias_id, self.alias, self.domain, self.deleted = alias_id, alias, domain, False

    @event("TargetChanged")
    def change_target(self, domain: str) -> None:
        self.domain = domain

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True


class DomainAccess(Aggregate):
    @staticmethod
    def create_id(entry_id: str) -> UUID:
        return aggregate_id("domainaccess", entry_id)

    @event("Created")
    def __init__(self, entry_id: str, tag: str, tagview: str, domain: str, action: str, created_at: datetime) -> None:
        self.entry_id, self.tagview, self.domain, self.action, self.deleted = entry_id, tagview, domain, action, False

    @event("ActionChanged")
    def change_action(self, action: str) -> None:
        self.action = action

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True
