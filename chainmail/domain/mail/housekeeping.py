"""The mail store's housekeeping commands on the Mail context: the storage figure recounted, and what
time removes (a deleted account's mail once its `deleteAfter` passed, messages past their folder's
retention, archive entries past `const:archive:time`). The application service decides what is due
(`chainmail.mail.housekeeping`); these record it, so a replay removes exactly the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from chainmail.domain.mail.mailboxes import Mailbox
from chainmail.domain.mail.userdata import Autoreply, Filter, StoredFile
from chainmail.domain.mail.users import User

if TYPE_CHECKING:
    from chainmail.domain.application import ContextApplication

    _Base = ContextApplication
else:
    _Base = object

# One event holds at most this many removed messages, so a big folder's purge stays a few small events.
REMOVAL_CHUNK = 1000


def _chunks(items: list[Any], size: int = REMOVAL_CHUNK) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class HousekeepingCommands(_Base):
    _contended: Callable[..., Any]

    def recount_storage(
        self, user_id: str, count: Callable[[], tuple[int, int] | None], *, only_drifted: bool = False
    ) -> tuple[int, int] | None:
        """Record the account's storage as `count()` finds it once the account's turn is held: (bytes of its
        stored messages, bytes shown), None for no account. A folder's writers wait meanwhile, so no upload
        lands between the count and its record; counted before the turn, one that did was lost from the
        figure (and the account could pass its quota). `only_drifted`: nothing is recorded when they agree."""

        def command() -> tuple[int, int] | None:
            try:
                user: User = self.repository.get(User.create_id(user_id))  # the account's turn from here
            except AggregateNotFoundError:
                return None
            figures = count()
            if figures is None or (only_drifted and figures[0] == figures[1]):
                return figures
            used, previous = figures
            user.recount_storage(storage_used=used, previous=previous, counted_at=self.clock())
            self.save(user)
            return figures

        return self._contended(command, user_id, hold=True)  # type: ignore[no-any-return]

    def purge_account(
        self,
        user_id: str,
        mailboxes: dict[str, list[dict[str, Any]]],
        files: list[str],
        filters: list[str],
    ) -> bool:
        """Remove a deleted account's folders (`mailboxes`: id -> its messages `{uid, message, size, seen}`),
        stored files and filters, and mark it purged. False when it is not (or no longer) due."""

        def command() -> bool:
            now = self.clock()
            try:
                user: User = self.repository.get(User.create_id(user_id))
            except AggregateNotFoundError:
                return False
            if not user.is_deleted or user.purged or user.delete_after is None or user.delete_after > now:
                return False
            pending: list[Aggregate] = []
            for mailbox_id, contents in mailboxes.items():
                try:
                    mailbox: Mailbox = self.repository.get(Mailbox.create_id(mailbox_id))
                except AggregateNotFoundError:
                    continue
                if mailbox.user_id != user_id or mailbox.deleted:
                    continue
                for chunk in _chunks(contents):
                    mailbox.remove(user_id, chunk, "purged")
                mailbox.delete(user_id=user_id)
                pending.append(mailbox)
            for kind, ids in ((StoredFile, files), (Filter, filters)):
                for oid in ids:
                    try:
                        found = self.repository.get(kind.create_id(oid))
                    except AggregateNotFoundError:
                        continue
                    if found.user_id == user_id and not found.deleted:
                        found.delete(user_id=user_id)
                        pending.append(found)
            try:
                autoreply: Autoreply = self.repository.get(Autoreply.create_id(user_id))
                if autoreply.settings is not None:
                    autoreply.clear(user_id=user_id)
                    pending.append(autoreply)
            except AggregateNotFoundError:
                pass
            user.purge(purged_at=now)
            self.save(user, *pending)
            return True

        return bool(self.retrying(command))

    def expire_messages(self, user_id: str, mailbox_id: str, current: Callable[[], list[dict[str, Any]]]) -> int:
        """Messages past their expiry leave the folder into the archive, as WildDuck's garbage collector
        deletes them: `current()` gives them (`{uid, message, size, seen}`) as they are once the account's turn
        is held (one a client deleted, moved or kept longer meanwhile is not among them)."""

        def command() -> int:
            try:
                mailbox: Mailbox = self.repository.get(Mailbox.create_id(mailbox_id))
            except AggregateNotFoundError:
                return 0
            if mailbox.deleted or mailbox.user_id != user_id:
                return 0
            now = self.clock()
            removed = [{**m, "archive": self.ids.object_id(now), "archived": now.isoformat()} for m in current()]
            for chunk in _chunks(removed):
                mailbox.remove(user_id, chunk, "deleted")
            if removed:
                self.save(mailbox)
            return len(removed)

        return int(self._contended(command, user_id))

    def purge_archived(self, user_id: str, mailbox_id: str, entries: list[str]) -> int:
        """Archive entries of one folder kept longer than `const:archive:time` are dropped."""
        if not entries:
            return 0

        def command() -> int:
            try:
                mailbox: Mailbox = self.repository.get(Mailbox.create_id(mailbox_id))
            except AggregateNotFoundError:
                return 0
            for chunk in _chunks(entries):
                mailbox.purge_archived(user_id=user_id, entries=chunk)
            self.save(mailbox)
            return len(entries)

        return int(self._contended(command, user_id))
