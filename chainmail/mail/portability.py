"""The mail part of moving an account (`POST /data/export`, `POST /data/import`): its folders travel in
the account's line, each stored message in a line of its own (the raw bytes from the blob table, its
flags, internal date, metadata and folder path). An import stores them again through the mail store:
new message ids, UIDs handed out by the target folders, the raw bytes byte for byte."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from chainmail.domain.errors import DomainError
from chainmail.mail.store import MailStore
from chainmail.projections import mailboxes as mailboxes_model
from chainmail.projections.messages import messages, utc
from chainmail.store.blobs import get_blob

MAILBOX_FIELDS = ("path", "specialUse", "subscribed", "hidden", "retention", "encryptMessages")


def folder_entries(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    """The folders of an account as its export line lists them."""
    return [
        {
            "id": row["id"],
            "path": row["path"],
            "specialUse": row["special_use"],
            "subscribed": bool(row["subscribed"]),
            "hidden": bool(row["hidden"]),
            "retention": int(row["retention"] or 0),
            "encryptMessages": bool(row["encrypt_messages"]),
        }
        for row in mailboxes_model.user_mailboxes(conn, user_id)
    ]


def message_entries(conn: Connection, user_id: str) -> Iterator[dict[str, Any]]:
    """Every stored message of an account, folder by folder in UID order, raw bytes included."""
    for folder in mailboxes_model.user_mailboxes(conn, user_id):
        query = (
            select(messages.c.uid, messages.c.blob, messages.c.flags, messages.c.idate)
            .add_columns(messages.c.meta_data, messages.c.expires)
            .where(messages.c.mailbox_id == folder["id"])
            .order_by(messages.c.uid)
        )
        for row in conn.execute(query).all():
            raw = get_blob(conn, row.blob)
            if raw is None:
                continue  # the bytes are gone (never in a healthy store): nothing to move
            yield {
                "mailbox": folder["path"],
                "specialUse": folder["special_use"],
                "uid": int(row.uid),
                "flags": list(row.flags),
                "idate": utc(row.idate).isoformat(),  # type: ignore[union-attr]
                "metaData": row.meta_data,
                "expires": utc(row.expires).isoformat() if row.expires else None,
                "raw": base64.b64encode(raw).decode("ascii"),
            }


class MailImport:
    """Recreates the folders and messages of accounts imported from an export file."""

    def __init__(self, store: MailStore) -> None:
        self.store = store
        self._folders: dict[str, dict[str, str]] = {}  # user -> path -> local folder id

    def folders(self, user_id: str, entries: list[dict[str, Any]]) -> None:
        """Create the exported folders the new account does not have yet (its defaults exist already)."""
        with self.store.engine.connect() as conn:
            local = {row["path"]: row for row in mailboxes_model.user_mailboxes(conn, user_id)}
        by_use = {row["special_use"]: row["id"] for row in local.values() if row["special_use"]}
        paths = {path: row["id"] for path, row in local.items()}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]:
                continue
            path, use = entry["path"], entry.get("specialUse")
            use = use if isinstance(use, str) else None
            if path in paths:
                continue
            if use and use in by_use:
                paths[path] = by_use[use]  # a special folder, named otherwise here
                continue
            try:
                paths[path] = self.store.create_mailbox(
                    user_id,
                    path,
                    hidden=bool(entry.get("hidden")),
                    retention=int(entry.get("retention") or 0),
                    encrypt_messages=bool(entry.get("encryptMessages")),
                )
            except (ValueError, TypeError, DomainError):  # a folder the file describes badly is left out
                continue
            if entry.get("subscribed") is False:
                self.store.mail.update_mailbox(user_id, paths[path], None, {"subscribed": False})
        self._folders[user_id] = paths

    def message(self, user_id: str, entry: dict[str, Any]) -> bool:
        """Store one exported message; False when the entry is not one or its account was not imported."""
        paths = self._folders.get(user_id)
        if paths is None or not isinstance(entry, dict):
            return False
        try:
            raw = base64.b64decode(str(entry["raw"]), validate=True)
            idate = datetime.fromisoformat(str(entry["idate"]))
            flags = [str(f) for f in entry.get("flags") or []]
            expires = datetime.fromisoformat(entry["expires"]) if entry.get("expires") else None
        except (KeyError, TypeError, ValueError, binascii.Error):
            return False
        folder = paths.get(str(entry.get("mailbox"))) or paths.get("INBOX")
        if folder is None:
            return False
        meta = entry.get("metaData")
        try:
            self.store.store(
                user_id,
                folder,
                raw,
                flags=flags,
                idate=utc(idate) or idate,
                meta_data=meta if isinstance(meta, str) else None,
                expires=expires,
                enforce_limits=False,
            )
        except DomainError:
            return False
        return True
