"""What time does to a mail store, decided from the read models and recorded through the Mail commands:
the storage figure recounted, deleted accounts purged once `deleteAfter` passed (WildDuck's
user-delete task), messages past their folder's retention archived, and archive entries past
`const:archive:time` dropped (WildDuck's garbage collector). Everything is measured against the
injected clock, so a run is deterministic; `chainmail purge` and `chainmail project` run it."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog

from chainmail.domain.mail.settings import SETTING_KEYS
from chainmail.indexer.lock import ChainLock
from chainmail.mail.store import removal_of, user_not_found
from chainmail.projections import account_archive
from chainmail.projections import mailboxes as mailboxes_model
from chainmail.projections import messages as messages_model
from chainmail.projections import settings as settings_model
from chainmail.projections import userdata as userdata_model
from chainmail.projections import users as users_model
from chainmail.store.postgres_events import TurnRead
from chainmail.system import System

ARCHIVE_TIME_MS = next(k.default for k in SETTING_KEYS if k.key == "const:archive:time")
BATCH = 1000  # messages or archive entries handled per sweep step
SWEEP_INTERVAL = 60.0  # seconds between sweeps in `chainmail project`
SWEEPER_LOCK_KEY = 0x7FFFFFFF  # the indexer's one-writer lock, under a key no chain id uses

log = structlog.get_logger(__name__)


@dataclass
class Swept:
    accounts: int = 0
    messages_purged: int = 0
    messages_expired: int = 0
    archive_purged: int = 0

    def __bool__(self) -> bool:
        return any((self.accounts, self.messages_purged, self.messages_expired, self.archive_purged))

    def add(self, other: Swept) -> None:
        self.accounts += other.accounts
        self.messages_purged += other.messages_purged
        self.messages_expired += other.messages_expired
        self.archive_purged += other.archive_purged


class Housekeeping:
    def __init__(self, system: System, interval: float = SWEEP_INTERVAL) -> None:
        self.system, self.mail, self.engine = system, system.mail, system.engine
        self.interval, self._last = interval, float("-inf")

    def when_due(self) -> None:
        """Sweep at most once an `interval` (the projector calls this when it is idle); never raises."""
        if time.monotonic() - self._last < self.interval:
            return
        self._last = time.monotonic()
        try:
            swept = self.run_exclusively()
        except Exception:  # a failed sweep is retried next interval; the projector keeps running
            log.exception("housekeeping sweep failed")
            return
        if swept:
            log.info("housekeeping", **vars(swept))

    def run_exclusively(self) -> Swept | None:
        """Sweep unless another process is sweeping (None then): two sweepers would remove a message
        twice, since they decide from the same read models."""
        lock = ChainLock(self.system.settings.database_url, SWEEPER_LOCK_KEY)
        if not lock.try_acquire():
            return None
        try:
            return self.run_until_done()
        finally:
            lock.release()

    def run_until_done(self, max_sweeps: int = 1000) -> Swept:
        """Sweep until nothing more is due (bounded, in case something refuses to go)."""
        total = Swept()
        for _ in range(max_sweeps):
            swept = self.run()
            total.add(swept)
            if not swept:
                break
        return total

    # -- quota ------------------------------------------------------------------------------

    def recount_storage(self, user_id: str) -> tuple[int, int]:
        """Recompute one user's storage from the stored messages and record it; (new, previous)."""
        figures = self.mail.recount_storage(user_id, partial(self._storage, user_id))
        if figures is None:
            raise user_not_found()
        return figures

    def recount_all_storage(self) -> int:
        """Recompute every user's storage; records a figure for each user whose shown figure was off (found
        off by a first count, then counted again in the account's turn)."""
        with self.engine.connect() as conn:
            counted = messages_model.storage_by_user(conn)
            shown = users_model.storage_shown(conn)
        recorded = 0
        for user_id in sorted(u for u, previous in shown.items() if counted.get(u, 0) != previous):
            figures = self.mail.recount_storage(user_id, partial(self._storage, user_id), only_drifted=True)
            recorded += figures is not None and figures[0] != figures[1]
        return recorded

    def _storage(self, user_id: str) -> tuple[int, int] | None:
        """(bytes of the user's stored messages, bytes its account shows); None for no account."""
        with self.engine.connect() as conn:
            user = users_model.get_user(conn, user_id)
            if user is None:
                return None
            return messages_model.storage_used(conn, user_id), max(int(user["storage_used"] or 0), 0)

    # -- purging ----------------------------------------------------------------------------

    def run(self) -> Swept:
        """One sweep of everything due now."""
        swept = Swept()
        swept.accounts, swept.messages_purged = self.purge_deleted_accounts()
        swept.messages_expired = self.expire_messages()
        swept.archive_purged = self.purge_archive()
        return swept

    def purge_deleted_accounts(self) -> tuple[int, int]:
        now = self.mail.clock()
        accounts = messages = 0
        with self.engine.connect() as conn:
            due = account_archive.due_for_purge(conn, now)
        for user_id in due:
            with self.engine.connect() as conn:
                folders = [m["id"] for m in mailboxes_model.user_mailboxes(conn, user_id)]
                contents = {
                    folder: [
                        {k: r[k] for k in ("uid", "message", "size", "seen")}
                        for r in messages_model.message_refs(conn, [messages_model.messages.c.mailbox_id == folder])
                    ]
                    for folder in folders
                }
                files = userdata_model.user_file_ids(conn, user_id)
                filters = [f["id"] for f in userdata_model.user_filters(conn, user_id)]
            if self.mail.purge_account(user_id, contents, files, filters):
                accounts += 1
                messages += sum(len(c) for c in contents.values())
        return accounts, messages

    def expire_messages(self) -> int:
        now = self.mail.clock()
        with self.engine.connect() as conn:
            expired = messages_model.expired_messages(conn, now, BATCH)
        by_folder: dict[tuple[str, str], list[int]] = defaultdict(list)
        for ref in expired:
            by_folder[(ref["user"], ref["mailbox"])].append(ref["uid"])
        dialect, expired_total = self.engine.dialect.name, 0
        for (user, folder), uids in by_folder.items():
            current = TurnRead(self.engine, [messages_model.states_read(dialect, folder, uids)])
            with current.first():
                expired_total += self.mail.expire_messages(user, folder, partial(still_expired, current, now))
        return expired_total

    def purge_archive(self) -> int:
        now = self.mail.clock()
        with self.engine.connect() as conn:
            keep_ms = settings_model.setting(conn, "const:archive:time", ARCHIVE_TIME_MS)
            cutoff = now - timedelta(milliseconds=int(keep_ms or ARCHIVE_TIME_MS))
            entries = messages_model.old_archive_entries(conn, cutoff, BATCH)
        by_folder: dict[tuple[str, str], list[str]] = defaultdict(list)
        for entry in entries:
            by_folder[(entry["user"], entry["mailbox"])].append(entry["id"])
        return sum(self.mail.purge_archived(user, folder, ids) for (user, folder), ids in by_folder.items())


def still_expired(current: TurnRead, now: datetime) -> list[dict[str, Any]]:
    """The messages `current()` reads (those still in their folder once the account's turn is held) that are
    still past their expiry at `now`, as the expiry removes them."""
    return [
        removal_of(r) for r in current() if (expires := messages_model.utc(r["expires"])) is not None and expires <= now
    ]
