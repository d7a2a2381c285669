"""The Mailbox aggregate: a folder of a user that hands out IMAP UIDs."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from importlib import resources
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import aggregate_id

SPECIAL_USES = ("\\Sent", "\\Trash", "\\Drafts", "\\Junk")
DEFAULT_NAMES = {"\\Sent": "Sent Mail", "\\Trash": "Trash", "\\Drafts": "Drafts", "\\Junk": "Junk"}
JUNK_RETENTION_MS = 30 * 24 * 3600 * 1000


class Mailbox(Aggregate):
    @staticmethod
    def create_id(mailbox_id: str) -> UUID:
        return aggregate_id("mailbox", mailbox_id)

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
