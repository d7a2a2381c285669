"""The mail store's application service: what every way into a mailbox (API upload, move, restore,
delivery) shares. It reads the read models it needs to decide (the user, its quota, the folder's
messages, the thread), keeps bytes in the blob table, and records the facts through the Mail commands."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine

from chainmail.domain.errors import AlreadyExists, DomainError, Forbidden, Invalid, NotFound
from chainmail.domain.mail.append_batches import Staged
from chainmail.domain.mail.limits import DEFAULTS
from chainmail.domain.mail.names import uview
from chainmail.domain.mail.threading import subject_key, thread_refs
from chainmail.mail.filters import Outcome, decide
from chainmail.mail.mime import ParsedMessage, parse_message
from chainmail.mail.pgp import encrypt_message
from chainmail.projections import mailboxes as mailboxes_model
from chainmail.projections import messages as messages_model
from chainmail.projections import settings as settings_model
from chainmail.projections import userdata as userdata_model
from chainmail.projections import users as users_model
from chainmail.projections.paging import Page
from chainmail.store.blobs import blob_ref, get_blob, put_blob
from chainmail.store.postgres_events import TurnRead
from chainmail.store.prepared import Prepared, read_together
from chainmail.system import System

MAX_SEARCH_TEXT = 64 * 1024
MAX_HEADERS_KEPT = 64
CURRENT_CHUNK = 1000  # UIDs per read of a command's messages (SQLite caps the parameters of a statement)
SYSTEM_FLAGS = ("\\Seen", "\\Flagged", "\\Deleted", "\\Draft")


class OverQuota(DomainError):
    kind = "invalid"


def user_not_found() -> NotFound:
    return NotFound("UserNotFound", "This user does not exist")


def message_not_found() -> NotFound:
    return NotFound("MessageNotFound", "Message was not found")


Flags = dict[str, bool]  # the system flags to set (True) or clear: `seen`, `flagged`, `deleted`, `draft`
FLAG_NAMES = (("seen", "\\Seen"), ("flagged", "\\Flagged"), ("deleted", "\\Deleted"), ("draft", "\\Draft"))


def reflagged(current: list[str], flags: Flags) -> list[str]:
    """A message's flags (`current`) once `flags` are set on it, sorted."""
    wanted = set(current)
    for column, flag in FLAG_NAMES:
        if column in flags:
            (wanted.add if flags[column] else wanted.discard)(flag)
    return sorted(wanted)


def flag_changes(rows: list[dict[str, Any]], flags: Flags) -> list[dict[str, Any]]:
    """The flag changes (`{uid, message, flags, previous}`) that setting `flags` makes to `rows`."""
    found = []
    for row in rows:
        wanted = reflagged(row["flags"], flags)
        if wanted != sorted(row["flags"]):
            found.append({"uid": row["uid"], "message": row["id"], "flags": wanted, "previous": row["flags"]})
    return found


def removal_of(row: dict[str, Any]) -> dict[str, Any]:
    """What a folder records of a message of its that leaves it (`Mailbox.remove`)."""
    return {"uid": row["uid"], "message": row["id"], "size": row["size"], "seen": "\\Seen" in row["flags"]}


@dataclass(frozen=True)
class Condition:
    """A rule a message must still meet once the account's turn is held, where every earlier writer of the
    account has committed (a daily sending limit, the daily forward limit): `reads` go out with the turn's
    lock, and `holds(rows, pending)`, given each read's rows and what messages stored before it in the same
    save add to the account's counts, raises the DomainError that refuses the message, or answers what the
    message adds to them when the rule decides that (a forward within the limit, or none); None: `adds`."""

    reads: Sequence[tuple[Prepared, Mapping[str, Any]]]
    holds: Callable[[list[list[dict[str, Any]]], Mapping[str, int]], Mapping[str, int] | None]
    adds: Mapping[str, int] = field(default_factory=dict)

    def alone(self, engine: Engine) -> None:
        """The rule checked for a queue entry saved alone, in its owner's turn (`OutboundQueue.queue_decided`):
        the reads take the turn's lock first."""
        self.holds(TurnRead(engine, self.reads).each(), {})


@dataclass(frozen=True)
class Stored:
    uid: int
    mailbox: str
    size: int
    message: str


@dataclass(frozen=True)
class Delivery:
    stored: Stored | None  # None when a filter deleted the message
    outcome: Outcome
    autoreply: dict[str, Any] | None = None  # what to answer the sender with, when the autoreply is on


def without_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL characters, which broken mail may carry: they become U+FFFD."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def _has_custom_meta(meta: str | None) -> bool:
    return bool(meta) and meta not in ("{}", "null")


def thread_keys(parsed: ParsedMessage) -> tuple[str, list[str]]:
    """The subject key and message-id keys a message is threaded by (see `domain.mail.threading`)."""
    thread_index = next((v for k, v in reversed(parsed.headers) if k == "thread-index"), "")
    refs = thread_refs(parsed.message_id, parsed.in_reply_to, thread_index, parsed.references)
    return subject_key(parsed.subject), refs


class MailStore:
    def __init__(self, system: System) -> None:
        self.system, self.mail, self.engine = system, system.mail, system.engine

    # -- lookups ----------------------------------------------------------------------------

    def user(self, user_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = users_model.get_user(conn, user_id)
        if row is None:
            raise user_not_found()
        return row

    def mailbox(self, user_id: str, mailbox_id: str, missing: str = "This mailbox does not exist") -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = mailboxes_model.get_mailbox(conn, user_id, mailbox_id)
        if row is None:
            raise NotFound("NoSuchMailbox", missing)
        return row

    def folder_messages(
        self, user_id: str, mailbox_id: str, uids: list[int] | None, low: int | None, high: int | None
    ) -> list[dict[str, Any]]:
        """The messages of a user's folder that a range names (a UID list, or `low:high`, `high` None: to the
        last), in UID order, the folder checked: the folder and the messages read in one round trip."""
        with self.engine.connect() as conn:
            reads = [
                mailboxes_model.mailbox_read(user_id, mailbox_id),
                messages_model.messages_read(conn.dialect.name, mailbox_id, uids, low, high),
            ]
            folder, rows = read_together(conn, reads)
        if not folder:
            raise NotFound("NoSuchMailbox", "This mailbox does not exist")
        return rows

    def folder_listing(
        self, user_id: str, mailbox_id: str, listing: messages_model.Listing
    ) -> tuple[dict[str, Any], Page]:
        """A user's folder and a page of its messages: one round trip."""
        with self.engine.connect() as conn:
            folder, rows = read_together(
                conn,
                [mailboxes_model.mailbox_read(user_id, mailbox_id), messages_model.listing_read(mailbox_id, listing)],
            )
        if not folder:
            raise NotFound("NoSuchMailbox", "This mailbox does not exist")
        return folder[0], messages_model.listing_page(rows, listing)

    def message(self, user_id: str, mailbox_id: str, uid: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = messages_model.get_message(conn, mailbox_id, uid)
        if row is None or row["user_id"] != user_id:
            raise message_not_found()
        return row

    def blob(self, sha256: str) -> bytes:
        with self.engine.connect() as conn:
            data = get_blob(conn, sha256)
        if data is None:
            raise NotFound("FileNotFound", "Stored content was not found")
        return data

    # -- folders ----------------------------------------------------------------------------

    def create_mailbox(self, user_id: str, path: str, *, hidden: bool, retention: int, encrypt_messages: bool) -> str:
        self.user(user_id)
        with self.engine.connect() as conn:
            if mailboxes_model.mailbox_by_path(conn, user_id, path) is not None:
                raise AlreadyExists("MailboxExistsError", "Mailbox creation failed with code MailboxAlreadyExists")
        counted = TurnRead(self.engine, [mailboxes_model.count_and_settings_read(self.engine, user_id)])

        def within_limit() -> None:
            """As WildDuck: refused once the account has more folders than `const:max:mailboxes`, counted in
            the account's turn (two creations at once at the limit otherwise both passed it)."""
            found = counted()[0]
            most = settings_model.defaults_over(settings_model.from_all_settings(found["_settings"]), DEFAULTS)
            if int(found["count"]) > int(most["const:max:mailboxes"]):
                raise Invalid(
                    "DisallowedMailboxMethod",
                    "Mailbox creation failed with code ReachedMailboxCountLimit. Max mailboxes count reached.",
                )

        with counted.first():
            return self.mail.create_mailbox(
                user_id,
                path,
                hidden=hidden,
                retention=retention,
                encrypt_messages=encrypt_messages,
                within_limit=within_limit,
            )

    def create_filter(
        self, user_id: str, name: str, query: dict[str, Any], action: dict[str, Any], disabled: bool, meta: str | None
    ) -> str:
        """A new filter, refused (`TooMany`) once the account has as many as its limit (its own `filters`, else
        `const:max:filters`), counted in the account's turn: creations at once stay within it."""
        counted = TurnRead(
            self.engine,
            [users_model.user_and_settings_read(self.engine, user_id), userdata_model.filter_count_read(user_id)],
        )

        def within_limit() -> None:
            account_rows, count_rows = counted.each()
            account, custom = users_model.user_and_settings_of(account_rows)
            if account is None:
                raise user_not_found()
            allowed = settings_model.account_limit(account["profile"], "filters", custom, "const:max:filters")
            if int(count_rows[0]["count"]) >= allowed:
                raise Forbidden("TooMany", "Maximum filters limit reached", allowed=allowed)

        with counted.first():
            return self.mail.create_filter(user_id, name, query, action, disabled, meta, within_limit=within_limit)

    def update_mailbox(self, user_id: str, mailbox_id: str, path: str | None, changes: dict[str, Any]) -> None:
        current = self.mailbox(user_id, mailbox_id, "Mailbox update failed with code NoSuchMailbox")
        if path is not None and path != current["path"]:
            with self.engine.connect() as conn:
                if mailboxes_model.mailbox_by_path(conn, user_id, path) is not None:
                    raise AlreadyExists("MailboxExistsError", "Mailbox rename failed with code MailboxAlreadyExists")
        self.mail.update_mailbox(user_id, mailbox_id, path, changes)

    def delete_mailbox(self, user_id: str, mailbox_id: str) -> None:
        self.mailbox(user_id, mailbox_id, "Mailbox deletion failed with code NoSuchMailbox")

        current = self.in_turn(mailbox_id, None)
        with current.first():
            self.mail.delete_mailbox(user_id, mailbox_id, lambda: [removal_of(r) for r in current()])

    # -- storing ----------------------------------------------------------------------------

    def check_quota(self, user: dict[str, Any], size: int, settings: Mapping[str, Any]) -> None:
        """`OverQuotaError` when `size` more bytes pass the account's quota (its own, else `const:max:storage`)."""
        quota = settings_model.account_limit(user["profile"], "quota", settings, "const:max:storage")
        if int(user["storage_used"] or 0) + size > quota:
            raise OverQuota("OverQuotaError", "User is over quota")

    def store(
        self,
        user_id: str,
        mailbox_id: str,
        raw: bytes,
        *,
        flags: list[str],
        idate: datetime,
        meta_data: str | None = None,
        envelope: dict[str, Any] | None = None,
        expires: datetime | None = None,
        enforce_limits: bool = True,
        encrypt: bool = False,
        companions: Callable[[str], Sequence[Any]] | None = None,
        condition: Condition | None = None,
    ) -> Stored:
        """Store a message in a folder. An import (`enforce_limits=False`) moves what an account already
        had: neither its quota nor a disabled account stops it. With `encrypt`, the message is encrypted
        when the user or the folder asks for it (an upload that is not a draft). `companions(message_id)`
        builds new aggregates that are saved in the same transaction as the message.

        The account, the folder and the thread are read once the account's turn is held (they go out with
        the turn's lock): the quota is checked against what every earlier writer of the account stored, so
        that two uploads at once cannot both pass a quota that has room for one; so is `condition`."""
        if not raw.strip():
            raise Invalid("EmptyMessage", "Message is empty")
        parsed = parse_message(raw)  # first: its thread keys go out with the turn's reads
        subject, refs = thread_keys(parsed)
        dialect = self.engine.dialect.name
        by_thread = messages_model.thread_read(dialect, user_id, subject, refs)
        reads = [users_model.user_and_settings_read(self.engine, user_id)]
        reads += [mailboxes_model.mailbox_read(user_id, mailbox_id)]
        reads += [] if by_thread is None else [by_thread]
        current = TurnRead(self.engine, [*reads, *(condition.reads if condition is not None else ())])
        now = self.mail.clock()
        message_id = self.mail.ids.object_id(now)
        size = 0

        def stage(pending: Mapping[str, int]) -> Staged:
            nonlocal size
            found = current.each()
            user, settings = users_model.user_and_settings_of(found[0])
            if user is None:
                raise user_not_found()
            if enforce_limits and (user.get("disabled") or user.get("suspended")):
                raise Forbidden("UserDisabled", "User account is disabled")
            mailbox = found[1][0] if found[1] else None
            if mailbox is None:
                raise NotFound("NoSuchMailbox", "This mailbox does not exist")
            decided = condition.holds(found[len(reads) :], pending) if condition is not None else None
            content, message, keys = raw, parsed, (subject, refs)
            thread = messages_model.thread_of(found[2]) if by_thread is not None else None
            profile = user.get("profile") or {}
            if encrypt and (profile.get("encryptMessages") or mailbox["encrypt_messages"]):
                # as WildDuck: to the user's public key when the user or the target mailbox encrypts
                encrypted = encrypt_message(profile.get("pubKey"), raw)
                if encrypted is not None:  # the message stored is the encrypted one
                    content, message = encrypted, parse_message(encrypted)
                    keys = thread_keys(message)
                    again = messages_model.thread_read(dialect, user_id, *keys)  # read in the turn, too
                    thread = messages_model.thread_of(TurnRead(self.engine, [again])()) if again else None
            if enforce_limits:
                self.check_quota(user, pending.get("storage", 0) + len(content), settings)
            blob = blob_ref(content)

            def put_blobs(tx: Connection) -> None:  # in the transaction that records the message
                put_blob(tx, content)
                for attachment in message.attachments:
                    put_blob(tx, attachment.content)

            facts = self.facts(
                message_id,
                message,
                blob_sha256=blob.sha256,
                size=blob.size,
                flags=flags,
                idate=idate,
                thread=thread or self.mail.ids.object_id(now),
                attachment_blobs={a.id: blob_ref(a.content).sha256 for a in message.attachments},
                meta_data=meta_data,
                envelope=envelope or {"from": (message.from_ or [{"address": ""}])[0]["address"], "rcpt": []},
                special_use=mailbox["special_use"],
            )
            facts["thread_subject"], facts["thread_refs"] = keys
            if expires is not None:
                facts["expires"] = expires.isoformat()
            elif mailbox["retention"]:
                # A folder with a retention time (ms) gives its messages an expiry, as WildDuck's `exp`/`rdate`.
                facts["expires"] = (now + timedelta(milliseconds=int(mailbox["retention"]))).isoformat()
            size = blob.size
            adds = dict(decided if decided is not None else condition.adds if condition is not None else {})
            adds["storage"] = blob.size
            return Staged([facts], put_blobs, adds)

        (uid,) = self.mail.append_messages(
            user_id,
            mailbox_id,
            stage,
            in_turn=current.first,
            companions=None if companions is None else lambda: companions(message_id),
        )
        return Stored(uid, mailbox_id, size, message_id)

    def facts(
        self,
        message_id: str,
        parsed: ParsedMessage,
        *,
        blob_sha256: str,
        size: int,
        flags: list[str],
        idate: datetime,
        thread: str,
        attachment_blobs: dict[str, str],
        meta_data: str | None,
        envelope: dict[str, Any],
        special_use: str | None,
    ) -> dict[str, Any]:
        sender = parsed.from_ or parsed.sender or [{"name": "", "address": envelope.get("from") or ""}]
        headers: dict[str, str] = {}
        for key, value in parsed.headers:
            if key not in headers and len(headers) < MAX_HEADERS_KEPT:
                headers[key] = value
        attachments = []
        for a in parsed.attachments:
            if a.listed:
                attachments.append({**a.entry(), "blob": attachment_blobs[a.id]})
        summary = {
            "from": sender[0],
            "replyTo": parsed.reply_to,
            "to": parsed.to,
            "cc": parsed.cc,
            "bcc": parsed.bcc,
            "messageId": parsed.message_id,
            "intro": parsed.intro,
            "attachmentsList": attachments,
            "stored": {a.id: attachment_blobs[a.id] for a in parsed.attachments},
            "references": parsed.references,
            "contentType": parsed.content_type,
            "encrypted": parsed.content_type["value"] == "multipart/encrypted",
            "headers": headers,
            "list": parsed.list_info,
            "envelope": envelope,
        }
        everyone = " ".join(f"{a['name']} {a['address']}" for a in parsed.to + parsed.cc + parsed.bcc)
        return without_nul(
            {
                "message": message_id,
                "thread": thread,
                "idate": idate.isoformat(),
                "hdate": parsed.date.isoformat() if parsed.date else None,
                "size": size,
                "flags": sorted(set(flags)),
                "blob": blob_sha256,
                "msgid": parsed.message_id,
                "subject": parsed.subject,
                "from_text": f"{sender[0]['name']} {sender[0]['address']}".lower(),
                "to_text": everyone.lower(),
                "body": parsed.text[:MAX_SEARCH_TEXT].lower(),
                "attachments": bool(attachments),
                "summary": summary,
                "meta_data": meta_data if _has_custom_meta(meta_data) else None,
                "expires": None,
                "register": self._register_entries(parsed, special_use, flags),
            }
        )

    def _register_entries(
        self, parsed: ParsedMessage, special_use: str | None, flags: list[str]
    ) -> list[dict[str, str]]:
        if special_use in ("\\Junk", "\\Drafts") or "\\Draft" in flags:
            return []
        people = parsed.to + parsed.cc + parsed.bcc if special_use == "\\Sent" else parsed.from_
        entries = []
        for person in people:
            address = person.get("address") or ""
            if "@" not in address or "no-reply" in address.lower() or "noreply" in address.lower():
                continue
            entries.append({"address": address, "addrview": uview(address)[:320], "name": person.get("name") or ""})
        return entries

    # -- changing ---------------------------------------------------------------------------

    def update_messages(
        self,
        user_id: str,
        mailbox_id: str,
        rows: list[dict[str, Any]],
        *,
        flags: dict[str, bool],
        meta_data: str | None = None,
        expires: Any = None,
        move_to: str | None = None,
    ) -> dict[str, Any]:
        """Set flags, metadata and expiry, then move if asked; `rows` are the matched messages. Flags and the
        move act on the messages as they are in the account's turn: one that another writer removed or moved
        meanwhile is left alone (and a single message gone so is not found)."""
        if not rows:
            raise message_not_found()
        if flags and move_to is None:  # flags and a move: one save (the move sets them, `reflag`)
            current = self.current(mailbox_id, rows)
            with current.first():
                self.mail.flag_messages(user_id, mailbox_id, lambda: flag_changes(current(), flags))
        if meta_data is not None or expires is not None:
            change: dict[str, Any] = {}
            if meta_data is not None:
                change["meta_data"] = meta_data if _has_custom_meta(meta_data) else None
            if expires is not None:
                change["expires"] = expires.isoformat() if isinstance(expires, datetime) else None
            current = self.current(mailbox_id, rows)
            with current.first():
                self.mail.change_message_meta(
                    user_id, mailbox_id, lambda: [{"uid": r["uid"], "message": r["id"], **change} for r in current()]
                )
        if move_to is None:
            return {"success": True, "updated": len(rows)}
        self.mailbox(user_id, move_to)
        reflag = partial(reflagged, flags=flags) if flags else None
        moved = self.move_messages(user_id, mailbox_id, move_to, rows, reflag=reflag)
        if not moved:
            raise message_not_found()
        return {"success": True, "mailbox": move_to, "id": [list(pair) for pair in moved]}

    def flag_range(
        self, user_id: str, mailbox_id: str, uids: list[int] | None, low: int | None, high: int | None, flags: Flags
    ) -> int:
        """Set `flags` on the messages of a user's folder that a range names (as `folder_messages` takes it),
        read once the account's turn is held, with its lock; how many the range matched. An update of flags
        alone needs no read before (the folder is checked in the turn): one round trip less."""
        current = self.in_turn(mailbox_id, uids, low, high)
        matched = 0

        def changes() -> list[dict[str, Any]]:
            nonlocal matched
            rows = current()
            matched = len(rows)
            return flag_changes(rows, flags)

        with current.first():
            self.mail.flag_messages(user_id, mailbox_id, changes)
        if not matched:
            raise message_not_found()
        return matched

    def move_messages(
        self,
        user_id: str,
        mailbox_id: str,
        target_id: str,
        rows: list[dict[str, Any]],
        *,
        keep: Callable[[dict[str, Any]], bool] = lambda row: True,
        reflag: Callable[[list[str]], list[str]] | None = None,
        companions: Callable[[], Sequence[Any]] | None = None,
        within: Callable[[Connection], None] | None = None,
        condition: Condition | None = None,
    ) -> list[tuple[int, int]]:
        """Move `rows` (those still in the folder, as they are then, and that it should `keep`) to `target_id`;
        (old UID, new UID) pairs. `reflag`, `companions` and `within` as `Mail.move_messages` takes them; the
        move is refused unless `condition` holds in the account's turn."""
        current = self.current(mailbox_id, rows, whole=True)
        limit = TurnRead(self.engine, condition.reads) if condition is not None else None

        def moving() -> list[dict[str, Any]]:
            if condition is not None and limit is not None:
                condition.holds(limit.each(), {})
            return [messages_model.facts_of(r) for r in current() if keep(r)]

        with current.first(), limit.first() if limit is not None else nullcontext():
            return self.mail.move_messages(
                user_id, mailbox_id, target_id, moving, reflag=reflag, companions=companions, within=within
            )

    def delete_messages(
        self, user_id: str, mailbox_id: str, rows: list[dict[str, Any]], *, archive: bool = True
    ) -> int:
        """Delete `rows` (those still in the folder when the account's turn is held); how many were deleted."""
        if not rows:
            return 0
        return self._delete(user_id, mailbox_id, self.current(mailbox_id, rows), archive)

    def delete_range(
        self,
        user_id: str,
        mailbox_id: str,
        uids: list[int] | None,
        low: int | None,
        high: int | None,
        *,
        archive: bool = True,
    ) -> int:
        """Delete the messages of a user's folder that a range names (as `folder_messages` takes it), read
        once the account's turn is held, with its lock (the folder is checked there); how many."""
        return self._delete(user_id, mailbox_id, self.in_turn(mailbox_id, uids, low, high), archive)

    def _delete(self, user_id: str, mailbox_id: str, current: TurnRead, archive: bool = True) -> int:
        def removed() -> list[dict[str, Any]]:
            now = self.mail.clock()
            return [
                {**removal_of(r), "archive": self.mail.ids.object_id(now), "archived": now.isoformat()}
                for r in current()
            ]

        with current.first():
            return len(self.mail.remove_messages(user_id, mailbox_id, removed, "deleted" if archive else "purged"))

    def current(self, mailbox_id: str, rows: list[dict[str, Any]], *, whole: bool = False) -> TurnRead:
        """A read of `rows` as they are in folder `mailbox_id` (those no longer there left out), for a command
        to call once it holds the account's turn; run the command `with` its `first()`, and the read goes out
        with the turn's lock (`store.postgres_events.TurnRead`). Each row has `uid`, `id`, `size`, `flags`
        and `expires`, or, `whole`, every column (a move records the message's facts again)."""
        uids = [r["uid"] for r in rows]
        dialect = self.engine.dialect.name
        chunks = [uids[start : start + CURRENT_CHUNK] for start in range(0, len(uids), CURRENT_CHUNK)]
        if whole:
            reads = [messages_model.messages_read(dialect, mailbox_id, c, 0, None) for c in chunks]
        else:
            reads = [messages_model.states_read(dialect, mailbox_id, c) for c in chunks]
        return TurnRead(self.engine, reads)

    def in_turn(
        self, mailbox_id: str, uids: list[int] | None, low: int | None = None, high: int | None = None
    ) -> TurnRead:
        """A read, as `current` makes it, of the messages of folder `mailbox_id` that a range names (as
        `folder_messages` takes it; `None` and no bounds: all of them)."""
        return TurnRead(
            self.engine, [messages_model.states_read(self.engine.dialect.name, mailbox_id, uids, low, high)]
        )

    def restore(self, user_id: str, archived: dict[str, Any], mailbox_id: str | None) -> Stored:
        """Put an archived message back: into `mailbox_id`, else its old folder, else INBOX."""
        target = None
        with self.engine.connect() as conn:
            for candidate in (mailbox_id, archived["mailbox_id"]):
                if candidate:
                    target = mailboxes_model.get_mailbox(conn, user_id, candidate)
                    if target is not None or candidate == mailbox_id:
                        break
            if target is None and mailbox_id is None:
                target = mailboxes_model.mailbox_by_path(conn, user_id, "INBOX")
        if target is None:
            raise NotFound("NoSuchMailbox", "This mailbox does not exist")
        with self.engine.connect() as conn:
            user, settings = users_model.get_user_and_settings(conn, user_id)
        if user is None:
            raise user_not_found()
        self.check_quota(user, int(archived["size"]), settings)
        facts = messages_model.facts_of(archived)
        facts.pop("uid")
        facts["message"] = self.mail.ids.object_id(self.mail.clock())
        facts["restored_from"] = archived["id"]
        entry = TurnRead(self.engine, [messages_model.archived_read(archived["id"])])
        with entry.first():
            uid = self.mail.restore_message(user_id, target["id"], facts, entry)
        return Stored(uid, target["id"], int(archived["size"]), facts["message"])

    def deliver(
        self,
        user_id: str,
        raw: bytes,
        *,
        envelope: dict[str, Any] | None = None,
        companions: Callable[[Outcome, str], Sequence[Any]] | None = None,
        condition: Callable[[Outcome], Condition | None] | None = None,
    ) -> Delivery:
        """Incoming mail for a user (the SMTP/LMTP edge calls this): the user's filters decide the folder,
        the flags, deletion and forward targets; then the message is stored, and the aggregates
        `companions(outcome, message_id)` builds (its forward) are saved with it. `condition(outcome)`: a
        rule decided in the account's turn (the forward limit), before the companions are built."""
        self.user(user_id)
        with self.engine.connect() as conn:
            inbox = mailboxes_model.mailbox_by_path(conn, user_id, "INBOX")
            junk = mailboxes_model.special_mailbox(conn, user_id, "\\Junk")
            rules = userdata_model.user_filters(conn, user_id)
        if inbox is None:
            raise NotFound("NoSuchMailbox", "This mailbox does not exist")
        outcome = decide(rules, parse_message(raw), len(raw))
        autoreply = self.active_autoreply(user_id)
        if outcome.delete:
            return Delivery(None, outcome, autoreply)
        target = inbox["id"]
        if outcome.spam and junk is not None:
            target = junk["id"]
        elif outcome.mailbox:
            with self.engine.connect() as conn:
                if mailboxes_model.get_mailbox(conn, user_id, outcome.mailbox) is not None:
                    target = outcome.mailbox
        flags = (["\\Seen"] if outcome.seen else []) + (["\\Flagged"] if outcome.flagged else [])
        stored = self.store(
            user_id,
            target,
            raw,
            flags=flags,
            idate=self.mail.clock(),
            envelope=envelope,
            companions=None if companions is None else partial(companions, outcome),
            condition=None if condition is None else condition(outcome),
        )
        return Delivery(stored, outcome, autoreply if not outcome.spam else None)

    def active_autoreply(self, user_id: str) -> dict[str, Any] | None:
        """The user's autoreply when it is switched on and now is inside its window."""
        with self.engine.connect() as conn:
            row = userdata_model.get_autoreply(conn, user_id)
        if row is None or not in_window(row["settings"], self.mail.clock()):
            return None
        return {k: row["settings"].get(k, "") for k in ("name", "subject", "text", "html")}


def meta_json(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def in_window(settings: dict[str, Any] | None, now: datetime) -> bool:
    """An autoreply that is on and whose `start`/`end` (ISO or false) include `now`."""
    if not settings or not settings.get("status"):
        return False

    def moment(value: Any) -> datetime | None:
        if not value:
            return None
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    start, end = moment(settings.get("start")), moment(settings.get("end"))
    return not ((start is not None and now < start) or (end is not None and now > end))
