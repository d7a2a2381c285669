"""The mail store's commands on the Mail context: folders, and messages appended to, flagged in, moved
between and removed from them. UIDs come from the Mailbox aggregate; two writers that race for the same
mailbox conflict on its version and the loser reruns (`retrying`), so no UID is ever handed out twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from chainmail.domain.application import retried
from chainmail.domain.claims import Claim
from chainmail.domain.errors import AlreadyExists, DomainError, Invalid, NotFound
from chainmail.domain.ids import ObjectId
from chainmail.domain.mail.append_batches import (
    Append,
    AppendBatches,
    Companions,
    InTurn,
    Stage,
    Staged,
    Within,
    companions_of,
    within_all,
)
from chainmail.domain.mail.housekeeping import HousekeepingCommands
from chainmail.domain.mail.mailboxes import Mailbox
from chainmail.domain.mail.userdata import Audit, Autoreply, Filter, StoredFile

T = TypeVar("T")
Current = Callable[[], list[dict[str, Any]]]  # what a command acts on, read once the account's turn is held
MAILBOX_SNAPSHOT_INTERVAL = 25
MAILBOX_RETRIES = 40


def no_such_mailbox(message: str = "This mailbox does not exist") -> NotFound:
    return NotFound("NoSuchMailbox", message)


class MailStoreCommands(HousekeepingCommands):
    """Mixed into `Mail`; uses its repository, save, clock, ids and retrying."""

    # A big mailbox has many events; snapshots keep loading it cheap.
    snapshotting_intervals: ClassVar[dict[type, int]] = {Mailbox: MAILBOX_SNAPSHOT_INTERVAL}

    repository: Any
    clock: Callable[[], datetime]
    ids: Any
    save: Callable[..., Any]
    retrying: Callable[[Callable[[], T]], T]
    append_batches: AppendBatches

    # -- folders ----------------------------------------------------------------------------

    def create_mailbox(
        self,
        user_id: str,
        path: str,
        *,
        hidden: bool = False,
        retention: int = 0,
        encrypt_messages: bool = False,
        within_limit: Callable[[], None] | None = None,
    ) -> ObjectId:
        """A new folder. `within_limit` raises the DomainError that refuses it when the account has too many
        already: it runs in the account's turn, which a creation holds from its first read on both stores (on
        SQLite the file's writer: a new folder's save touches no aggregate another creation saves, so no
        version would catch a second creation in between)."""

        def command() -> ObjectId:
            if within_limit is not None:
                within_limit()
            now = self.clock()
            mailbox_id = self.ids.object_id(now)
            claim = self._path_claim(user_id, path, mailbox_id)
            mailbox = Mailbox(
                mailbox_id=mailbox_id,
                user_id=user_id,
                path=path,
                special_use=None,
                uid_validity=int(now.timestamp()),
                retention=retention,
                created_at=now,
            )
            if hidden or encrypt_messages:
                mailbox.update({"hidden": hidden, "encrypt_messages": encrypt_messages})
            self.save(claim, mailbox)
            return mailbox_id

        return self._contended(command, user_id, hold=True)

    def update_mailbox(self, user_id: str, mailbox_id: str, path: str | None, changes: dict[str, Any]) -> None:
        def command() -> None:
            mailbox = self._mailbox(user_id, mailbox_id, "Mailbox update failed with code NoSuchMailbox")
            pending: list[Any] = [mailbox]
            if path is not None and path != mailbox.path:
                if mailbox.path == "INBOX" or mailbox.hidden:
                    raise Invalid("DisallowedMailboxMethod", "Mailbox update failed with code DisallowedMailboxMethod")
                claim = self._path_claim(
                    user_id, path, mailbox_id, "Mailbox rename failed with code MailboxAlreadyExists"
                )
                pending += [claim, *self._released(user_id, mailbox.path, mailbox_id)]
                mailbox.rename(path)
            if changes:
                mailbox.update(changes)
            self.save(*pending)

        self._contended(command, user_id)

    def delete_mailbox(self, user_id: str, mailbox_id: str, current: Current) -> None:
        """Delete a folder; `current()` gives its messages (`{uid, message, size, seen}`) as they are once the
        account's turn is held (one stored meanwhile included), removed with it."""

        def command() -> None:
            mailbox = self._mailbox(user_id, mailbox_id, "Mailbox deletion failed with code NoSuchMailbox")
            if mailbox.path == "INBOX" or mailbox.special_use or mailbox.hidden:
                raise Invalid("DisallowedMailboxMethod", "Mailbox deletion failed with code DisallowedMailboxMethod")
            contents = current()
            if contents:
                mailbox.remove(user_id, contents, "purged")
            mailbox.delete(user_id=user_id)
            self.save(mailbox, *self._released(user_id, mailbox.path, mailbox_id))

        self._contended(command, user_id)

    # -- messages ---------------------------------------------------------------------------

    def append_messages(
        self,
        user_id: str,
        mailbox_id: str,
        stage: Stage,
        *,
        in_turn: InTurn | None = None,
        companions: Companions | None = None,
    ) -> list[int]:
        """Store messages in a folder; returns their UIDs. `stage(pending)` works them out once the account's
        turn is held (`pending`: what the appends before it in the same save add to the account's counts), from
        reads that `in_turn()` registers to go out with the turn's lock; a DomainError it raises refuses this
        append alone. The new aggregates `companions()` builds are saved in the same transaction (a
        submission's queue entry). Concurrent calls for one folder share one save."""

        def save(batch: Sequence[Append]) -> list[list[int] | BaseException]:
            def command() -> list[list[int] | BaseException]:
                try:
                    mailbox: Mailbox | None = self._mailbox(user_id, mailbox_id)
                except NotFound:
                    mailbox = None  # each append says why first (its account may not exist)
                outcomes: list[Staged | BaseException] = []
                pending: Counter[str] = Counter()
                for append in batch:
                    try:
                        staged = append.stage(pending)
                    except DomainError as refused:
                        outcomes.append(refused)
                        continue
                    if mailbox is None:
                        outcomes.append(no_such_mailbox())
                        continue
                    outcomes.append(staged)
                    pending.update(staged.adds)
                kept = [(a, o) for a, o in zip(batch, outcomes, strict=True) if isinstance(o, Staged)]
                if mailbox is None or not kept:
                    return [o for o in outcomes if isinstance(o, BaseException)]
                uids = iter(mailbox.append(user_id, [m for _, staged in kept for m in staged.messages]))
                self.save(
                    mailbox,
                    *companions_of([a for a, _ in kept]),
                    within=within_all([staged for _, staged in kept]),
                )
                return [o if isinstance(o, BaseException) else [next(uids) for _ in o.messages] for o in outcomes]

            with ExitStack() as registered:
                for append in batch:
                    if append.in_turn is not None:
                        registered.enter_context(append.in_turn())
                return self._contended(command, user_id)

        return self.append_batches.append((user_id, mailbox_id), stage, save, in_turn=in_turn, companions=companions)

    def restore_message(
        self, user_id: str, mailbox_id: str, facts: dict[str, Any], archived: Callable[[], list[Any]]
    ) -> int:
        """An archived message back into a folder (its facts name the entry, `restored_from`), if `archived()`
        still finds the entry once the account's turn is held: two requests restoring it at once give one
        copy, and the later is not found. Returns its UID."""

        def command() -> int:
            mailbox = self._mailbox(user_id, mailbox_id)
            if not archived():
                raise NotFound("MessageNotFound", "This message does not exist")
            (uid,) = mailbox.append(user_id, [facts])
            self.save(mailbox)
            return uid

        return self._contended(command, user_id)

    def flag_messages(self, user_id: str, mailbox_id: str, current: Current) -> list[dict[str, Any]]:
        """Change flags: `current()` gives the changes (`{uid, message, flags, previous}`), worked out from the
        messages as they are once the account's turn is held, so that `previous` (which the folder's unseen
        counter follows) is what the message had, whatever another writer changed meanwhile."""

        def command() -> list[dict[str, Any]]:
            mailbox = self._mailbox(user_id, mailbox_id)
            changes = current()
            if changes:
                mailbox.flag(user_id, changes)
                self.save(mailbox)
            return changes

        return self._contended(command, user_id)

    def change_message_meta(self, user_id: str, mailbox_id: str, current: Current) -> None:
        """Change metadata or expiry: `current()` gives the changes (`{uid, message, ...}`) for the messages
        still in the folder once the account's turn is held."""

        def command() -> None:
            mailbox = self._mailbox(user_id, mailbox_id)
            changes = current()
            if changes:
                mailbox.change_meta(user_id, changes)
                self.save(mailbox)

        self._contended(command, user_id)

    def remove_messages(self, user_id: str, mailbox_id: str, current: Current, reason: str) -> list[dict[str, Any]]:
        """Remove messages from a folder: `current()` gives them (`{uid, message, size, seen, ...}`) as they
        are once the account's turn is held, so a message another writer removed meanwhile is not removed
        twice (its counters and storage would be). Returns what was removed."""

        def command() -> list[dict[str, Any]]:
            mailbox = self._mailbox(user_id, mailbox_id)
            removed = current()
            if removed:
                mailbox.remove(user_id, removed, reason)
                self.save(mailbox)
            return removed

        return self._contended(command, user_id)

    def move_messages(
        self,
        user_id: str,
        source_id: str,
        target_id: str,
        current: Current,
        *,
        reflag: Callable[[list[str]], list[str]] | None = None,
        companions: Companions | None = None,
        within: Within | None = None,
    ) -> list[tuple[int, int]]:
        """Move messages: `current()` gives their facts (with their `uid` in the source) as they are once the
        account's turn is held (a message moved or removed meanwhile is not there to move again). They get
        new UIDs in the target. `reflag(flags)`: the flags each message has from now on, changed in the
        source before it moves (a draft sent). The aggregates `companions()` builds are saved with the move
        and `within(conn)` runs in its transaction, only when something moves. Returns (old, new UID) pairs."""

        def command() -> list[tuple[int, int]]:
            source = self._mailbox(user_id, source_id)
            target = source if source_id == target_id else self._mailbox(user_id, target_id)
            messages = current()
            if not messages:
                return []
            if reflag is not None:
                changes = [
                    {"uid": m["uid"], "message": m["message"], "flags": reflag(m["flags"]), "previous": m["flags"]}
                    for m in messages
                ]
                messages = [{**m, "flags": change["flags"]} for m, change in zip(messages, changes, strict=True)]
                changed = [c for c in changes if sorted(c["flags"]) != sorted(c["previous"])]
                if changed:
                    source.flag(user_id, changed)
            if source_id == target_id:
                moved = [(m["uid"], m["uid"]) for m in messages]
            else:
                source.remove(
                    user_id,
                    [
                        {"uid": m["uid"], "message": m["message"], "size": m["size"], "seen": "\\Seen" in m["flags"]}
                        for m in messages
                    ],
                    "moved",
                )
                new_uids = target.append(user_id, [{k: v for k, v in m.items() if k != "uid"} for m in messages])
                moved = [(m["uid"], uid) for m, uid in zip(messages, new_uids, strict=True)]
            pending = [source] if target is source else [source, target]
            pending += companions() if companions is not None else ()
            if any(aggregate.pending_events for aggregate in pending):  # none: to its own folder, flags as they were
                self.save(*pending, within=within)
            return moved

        return self._contended(command, user_id)

    # -- helpers ----------------------------------------------------------------------------

    def in_turn_of(self, owner: str, command: Callable[[], T]) -> T:
        """Run `command` in the turn of `owner` (an account, or a forwarded address) from its first read, on
        both stores: for a rule no aggregate's version guards (a count of the owner's queue entries)."""
        return self._contended(command, owner, hold=True)

    def _contended(self, command: Callable[[], T], user_id: str, *, hold: bool = False) -> T:
        """Run a command on an account's folders in turn with the account's other writers of every process
        (gunicorn workers, API nodes): each waits for one commit instead of racing for the folder's next
        version. Racing lets the same writers lose again and again (a hot INBOX under four workers answered
        errors after 40 lost races, even when the losers went on in turn: the others' first tries overtook
        them). Commands of one process on one folder are batched before they get here. A writer outside the
        turn (a tool, an older node) can still win a race: the command then reruns, in a turn of its own.
        On SQLite a command's first try runs without a turn, and only its reruns hold the file's writer from
        their first read (`serialised(lost=True)`), so a command loses one race at most; with `hold`, every
        try does (a rare command whose rule no aggregate's version guards).
        """
        for attempt in range(MAILBOX_RETRIES):
            with self.serialised(f"mail-account:{user_id}", lost=hold or attempt > 0):
                try:
                    return command()
                except IntegrityError:
                    pass
            jitter = self.ids.randbytes(1)[0] / 255
            time.sleep(min(0.001 * (2 ** min(attempt, 4)), 0.02) * (0.5 + jitter))
        with self.serialised(f"mail-account:{user_id}", lost=MAILBOX_RETRIES > 0):
            return command()

    def _mailbox(self, user_id: str, mailbox_id: str, missing: str = "This mailbox does not exist") -> Mailbox:
        try:
            mailbox: Mailbox = self.repository.get(Mailbox.create_id(mailbox_id))
        except (AggregateNotFoundError, ValueError):
            raise no_such_mailbox(missing) from None
        if mailbox.deleted or mailbox.user_id != user_id:
            raise no_such_mailbox(missing)
        return mailbox

    def _path_claim(
        self,
        user_id: str,
        path: str,
        holder: str,
        taken: str = "Mailbox creation failed with code MailboxAlreadyExists",
    ) -> Claim:
        key = f"{user_id}/{path}"
        try:
            claim: Claim = self.repository.get(Claim.create_id("mailbox", key))
        except AggregateNotFoundError:
            return Claim(namespace="mailbox", key=key, holder=holder)
        if claim.is_held:
            raise AlreadyExists("MailboxExistsError", taken)
        claim.reclaim(holder=holder)
        return claim

    def _released(self, user_id: str, path: str, holder: str) -> list[Claim]:
        try:
            claim: Claim = self.repository.get(Claim.create_id("mailbox", f"{user_id}/{path}"))
        except AggregateNotFoundError:
            return []
        if claim.holder != holder:
            return []
        claim.release()
        return [claim]

    # -- stored files, filters, autoreply ----------------------------------------------------

    def store_file(self, user_id: str, **facts: Any) -> ObjectId:
        now = self.clock()
        file_id = self.ids.object_id(now)
        self.save(StoredFile(file_id=file_id, user_id=user_id, created_at=now, **facts))
        return file_id

    @retried()
    def delete_file(self, user_id: str, file_id: str) -> None:
        stored = self._owned(StoredFile, file_id, user_id, "FileNotFound", "This file does not exist")
        stored.delete(user_id=user_id)
        self.save(stored)

    def create_filter(
        self,
        user_id: str,
        name: str,
        query: dict[str, Any],
        action: dict[str, Any],
        disabled: bool,
        meta_data: str | None,
        within_limit: Callable[[], None] | None = None,
    ) -> ObjectId:
        """A new filter; `within_limit` as `create_mailbox` takes it (the filter limit)."""

        def command() -> ObjectId:
            if within_limit is not None:
                within_limit()
            now = self.clock()
            filter_id = self.ids.object_id(now)
            self.save(
                Filter(
                    filter_id=filter_id,
                    user_id=user_id,
                    name=name,
                    query=query,
                    action=action,
                    disabled=disabled,
                    meta_data=meta_data,
                    created_at=now,
                )
            )
            return filter_id

        return self._contended(command, user_id, hold=within_limit is not None)

    def update_filter(self, user_id: str, filter_id: str, changes: dict[str, Any]) -> None:
        def command() -> None:
            found = self._owned(Filter, filter_id, user_id, "FilterNotFound", "Filter was not found")
            if changes:  # nothing to change (`{"name": null}`): nothing to record
                found.update(user_id=user_id, changes=changes)
                self.save(found)

        self.retrying(command)

    def delete_filter(self, user_id: str, filter_id: str) -> None:
        def command() -> None:
            found = self._owned(Filter, filter_id, user_id, "FilterNotFound", "Filter was not found")
            found.delete(user_id=user_id)
            self.save(found)

        self.retrying(command)

    def set_autoreply(self, user_id: str, settings: dict[str, Any]) -> str:
        def command() -> str:
            try:
                autoreply: Autoreply = self.repository.get(Autoreply.create_id(user_id))
            except AggregateNotFoundError:
                autoreply = Autoreply(user_id=user_id)
            # WildDuck reports `created` to the second.
            autoreply.set(user_id=user_id, settings=settings, created_at=self.clock().replace(microsecond=0))
            self.save(autoreply)
            return autoreply_object_id(user_id)

        return self.retrying(command)

    def clear_autoreply(self, user_id: str) -> None:
        def command() -> None:
            try:
                autoreply: Autoreply = self.repository.get(Autoreply.create_id(user_id))
            except AggregateNotFoundError:
                return
            if autoreply.settings is not None:
                autoreply.clear(user_id=user_id)
                self.save(autoreply)

        self.retrying(command)

    def create_audit(
        self, user_id: str, start: datetime | None, end: datetime | None, expires: datetime, copied: int
    ) -> ObjectId:
        now = self.clock()
        audit_id = self.ids.object_id(now)
        self.save(
            Audit(
                audit_id=audit_id, user_id=user_id, start=start, end=end, expires=expires, copied=copied, created_at=now
            )
        )
        return audit_id

    def _owned(self, kind: Any, oid: str, user_id: str, code: str, message: str) -> Any:
        try:
            found = self.repository.get(kind.create_id(oid))
        except (AggregateNotFoundError, ValueError):
            raise NotFound(code, message) from None
        if found.deleted or found.user_id != user_id:
            raise NotFound(code, message)
        return found


def autoreply_object_id(user_id: str) -> str:
    """The autoreply's WildDuck id: one per user, derived from the user's id."""
    return Autoreply.create_id(user_id).hex[:24]
