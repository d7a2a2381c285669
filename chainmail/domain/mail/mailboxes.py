"""The Mailbox aggregate: a folder of a user that hands out IMAP UIDs."""

from __future__ import annotations

import json
from copy import deepcopy
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import aggregate_id

SPECIAL_USES = ("\\Sent", "\\Trash", "\\Drafts", "\\Junk")
DEFAULT_NAMES = {"\\Sent": "Sent Mail", "\\Trash": "Trash", "\\Drafts": "Drafts", "\\Junk": "Junk"}
JUNK_RETENTION_MS = 30 * 24 * 3600 * 1000
_IMMUTABLE = (str, int, float, bool, type(None), datetime, UUID)


class Mailbox(Aggregate):
    @staticmethod
    def create_id(mailbox_id: str) -> UUID:
        return aggregate_id("mailbox", mailbox_id)

    def __deepcopy__(self, memo: dict[int, Any]) -> Mailbox:
        """The copy of a cached mailbox that the repository gives each command: its state is strings, numbers,
        flags and datetimes, shared as they are, and anything else copied deeply (the pending events' list).
        The generic deep copy, which walks every value, was a thirtieth of an upload's time."""
        copied = memo[id(self)] = object.__new__(type(self))
        copied.__dict__.update(
            {k: v if isinstance(v, _IMMUTABLE) else deepcopy(v, memo) for k, v in self.__dict__.items()}
        )
        return copied

    @event("Created")
    def __init__(
        self,
        mailbox_id: str,
        user_id: str,
        path: str,
        special_use: str | None,
        uid_validity: int,
        retention: int,
        created_at: datetime,
    ) -> None:
        self.mailbox_id, self.user_id, self.path, self.special_use = mailbox_id, user_id, path, special_use
        self.uid_validity, self.uid_next, self.modify_index = uid_validity, 1, 0
        self.retention = retention
        self.subscribed, self.hidden, self.encrypt_messages, self.deleted = True, False, False, False

    # -- folder changes ---------------------------------------------------------------------

    @event("Renamed")
    def rename(self, path: str) -> None:
        self.path = path
        self.modify_index += 1

    @event("Updated")
    def update(self, changes: dict[str, Any]) -> None:
        """`changes` holds any of subscribed, hidden, retention, encrypt_messages."""
        for key in ("subscribed", "hidden", "encrypt_messages", "retention"):
            if key in changes:
                setattr(self, key, changes[key])
        self.modify_index += 1

    @event("Deleted")
    def delete(self, user_id: str) -> None:
        self.deleted = True

    # -- messages: the mailbox hands out UIDs and modification sequence numbers --------------

    def append(self, user_id: str, messages: list[dict[str, Any]]) -> list[int]:
        """Give each message the next UID; `messages` are the stored facts (see `chainmail.mail.facts`)."""
        first = self.uid_next
        numbered = [{**message, "uid": first + offset} for offset, message in enumerate(messages)]
        self._appended(user_id=user_id, modseq=self.modify_index + 1, messages=numbered)
        return [m["uid"] for m in numbered]

    @event("MessagesAppended")
    def _appended(self, user_id: str, modseq: int, messages: list[dict[str, Any]]) -> None:
        self.uid_next = messages[-1]["uid"] + 1 if messages else self.uid_next
        self.modify_index = modseq

    def flag(self, user_id: str, changes: list[dict[str, Any]]) -> None:
        """`changes`: `{uid, message, flags}` with the complete new flag list of each message."""
        self._flagged(user_id=user_id, modseq=self.modify_index + 1, changes=changes)

    @event("MessagesFlagged")
    def _flagged(self, user_id: str, modseq: int, changes: list[dict[str, Any]]) -> None:
        self.modify_index = modseq

    def change_meta(self, user_id: str, changes: list[dict[str, Any]]) -> None:
        """`changes`: `{uid, message, ...}` with `meta_data` and/or `expires` set."""
        self._meta_changed(user_id=user_id, modseq=self.modify_index + 1, changes=changes)

    @event("MessagesMetaChanged")
    def _meta_changed(self, user_id: str, modseq: int, changes: list[dict[str, Any]]) -> None:
        self.modify_index = modseq

    def remove(self, user_id: str, removed: list[dict[str, Any]], reason: str) -> None:
        """`removed`: `{uid, message, size}`; reason `deleted` (archived), `moved` or `purged`."""
        self._removed(user_id=user_id, modseq=self.modify_index + 1, removed=removed, reason=reason)

    @event("MessagesRemoved")
    def _removed(self, user_id: str, modseq: int, removed: list[dict[str, Any]], reason: str) -> None:
        self.modify_index = modseq

    @event("ArchivedMessagesPurged")
    def purge_archived(self, user_id: str, entries: list[str]) -> None:
        """Archive entries (deleted messages of this folder) kept past `const:archive:time` are gone."""


@cache
def _translations() -> dict[str, dict[str, str]]:
    text = resources.files("chainmail.domain.mail").joinpath("mailbox_names.json").read_text("utf-8")
    return json.loads(text)


def default_mailbox_paths(language: str | None, overrides: dict[str, str]) -> list[tuple[str, str | None]]:
    """The five folders of a new account, as (path, special use): INBOX, Sent, Trash, Drafts, Junk.

    Names follow the account language (WildDuck's translations) unless the request names them.
    """
    code = (language or "").lower().split("_")[0]
    names = _translations().get(code) or {}
    folders: list[tuple[str, str | None]] = [("INBOX", None)]
    for use in SPECIAL_USES:
        folders.append((overrides.get(use) or names.get(use) or DEFAULT_NAMES[use], use))
    return folders


def default_retention(special_use: str | None, account_retention: int) -> int:
    if special_use in ("\\Trash", "\\Junk"):
        return min(account_retention, JUNK_RETENTION_MS) if account_retention else JUNK_RETENTION_MS
    return account_retention
