"""The outbound queue: a message waiting to leave, one delivery per recipient (or forward target), and what
happened to each delivery (claimed by a worker, delivered, deferred with backoff, bounced, deleted)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from chainmail.domain.application import ContextApplication
from chainmail.domain.ids import aggregate_id

T = TypeVar("T")

PENDING = ("queued", "deferred")
FINISHED = ("delivered", "bounced", "deleted")
# WildDuck's `const:sender:defer_times` default: the waits between attempts; when they run out, the delivery bounces.
DEFAULT_DEFER_TIMES = "5m, 7m, 8m, 25m, 75m, 2h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.I)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def defer_times(setting: str | None) -> list[timedelta]:
    """`"5m, 7m, 1h"` as waits; unreadable parts are skipped, an empty list falls back to the default."""
    waits = []
    for part in (setting or "").split(","):
        match = _DURATION.match(part)
        if match:
            waits.append(timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]))
    return waits or defer_times(DEFAULT_DEFER_TIMES)


def delivery_seq(index: int) -> str:
    """ZoneMTA's delivery numbers: `001`, `002`, ... in hex."""
    return format(index + 1, "03x")


class QueuedMessage(Aggregate):
    """One message in the outbound queue; `deliveries` are `{seq, recipient, target}` (target: None for
    plain SMTP delivery to the recipient's domain, else `{type: mail|relay|http, value}`)."""

    @staticmethod
    def create_id(queue_id: str) -> UUID:
        return aggregate_id("outbound", queue_id)

    @event("Queued")
    def __init__(
        self,
        queue_id: str,
        user_id: str | None,
        parent_id: str | None,
        reason: str,
        sender: str,
        blob: str,
        size: int,
        deliveries: list[dict[str, Any]],
        send_time: datetime,
        created_at: datetime,
    ) -> None:
        self.queue_id, self.user_id, self.parent_id, self.reason = queue_id, user_id, parent_id, reason
        self.sender, self.blob, self.size, self.send_time = sender, blob, size, send_time
        self.entries: dict[str, dict[str, Any]] = {
            d["seq"]: {
                "status": "queued",
                "attempts": 0,
                "due": send_time,
                "claimed_until": None,
                "recipient": d["recipient"],
            }
            for d in deliveries
        }

    # -- rules ------------------------------------------------------------------------------

    def claimable(self, seq: str, now: datetime) -> bool:
        entry = self.entries.get(seq)
        if entry is None or entry["status"] not in PENDING or entry["due"] > now:
            return False
        return entry["claimed_until"] is None or entry["claimed_until"] <= now

    # -- commands ---------------------------------------------------------------------------

    def claim(self, seqs: list[str], worker: str, now: datetime, lease: timedelta) -> list[str]:
        """Take the due, unclaimed deliveries among `seqs` for `lease`; the others are left alone."""
        taken = [seq for seq in seqs if self.claimable(seq, now)]
        if taken:
            self._claimed(seqs=taken, worker=worker, until=now + lease, at=now)
        return taken

    @event("Claimed")
    def _claimed(self, seqs: list[str], worker: str, until: datetime, at: datetime) -> None:
        for seq in seqs:
            self.entries[seq]["claimed_until"] = until

    def record_attempt(self, seq: str, outcome: str, response: str, now: datetime, waits: list[timedelta]) -> str:
        """An attempt's outcome (`delivered`, `deferred` or `bounced`); a deferral past the last wait bounces."""
        entry = self.entries[seq]
        if entry["status"] in FINISHED:
            return entry["status"]
        attempts = entry["attempts"] + 1
        if outcome == "delivered":
            self._delivered(seq=seq, response=response, attempts=attempts, at=now)
        elif outcome == "deferred" and attempts <= len(waits):
            self._deferred(
                seq=seq, response=response, attempts=attempts, next_attempt=now + waits[attempts - 1], at=now
            )
        else:
            self._bounced(seq=seq, response=response, attempts=attempts, at=now)
        return self.entries[seq]["status"]

    @event("Delivered")
    def _delivered(self, seq: str, response: str, attempts: int, at: datetime) -> None:
        self.entries[seq].update(status="delivered", attempts=attempts, claimed_until=None)

    @event("Deferred")
    def _deferred(self, seq: str, response: str, attempts: int, next_attempt: datetime, at: datetime) -> None:
        self.entries[seq].update(status="deferred", attempts=attempts, due=next_attempt, claimed_until=None)

    @event("Bounced")
    def _bounced(self, seq: str, response: str, attempts: int, at: datetime) -> None:
        self.entries[seq].update(status="bounced", attempts=attempts, claimed_until=None)

    def delete(self, now: datetime) -> list[str]:
        """Drop the deliveries still waiting and not held by a worker (WildDuck removes unlocked entries)."""
        seqs = [
            seq
            for seq, entry in self.entries.items()
            if entry["status"] in PENDING and (entry["claimed_until"] is None or entry["claimed_until"] <= now)
        ]
        if seqs:
            self._deleted(seqs=seqs, at=now)
        return seqs

    @event("Deleted")
    def _deleted(self, seqs: list[str], at: datetime) -> None:
        for seq in seqs:
            self.entries[seq].update(status="deleted", claimed_until=None)


class OutboundCommands:
    """The outbound queue's commands, recorded in the Mail context's event store."""

    def __init__(self, app: ContextApplication) -> None:
        self.app = app

    def queue_decided(
        self, owner: str | None, decide: Callable[[], QueuedMessage | None], within: Callable[[Any], None] | None = None
    ) -> str | None:
        """Save the queue entry `decide()` makes (None: nothing to queue), deciding it in the turn of its
        `owner` (the account, or the forwarded address), held from its first read to the save: a rule that
        counts the owner's earlier entries (a daily limit, one autoreply per sender) sees every one committed
        before, and no other entry of the owner commits meanwhile. Decided outside it, entries saved at
        once together passed a limit with room for one (16 of 2, measured). `owner` None: no rule counts the
        entry, and it is saved at once. `within(conn)` runs in the save's transaction (storing the blob)."""

        def command() -> str | None:
            entry = decide()
            if entry is None:
                return None
            self.app.save(entry, within=within)
            return entry.queue_id

        if owner is None:
            return command()
        return self.app.in_turn_of(owner, command)  # type: ignore[attr-defined, no-any-return]

    def new_id(self) -> str:
        return self.app.ids.object_id(self.app.clock())

    def queued(
        self,
        queue_id: str,
        *,
        user_id: str | None,
        parent_id: str | None,
        reason: str,
        sender: str,
        blob: str,
        size: int,
        deliveries: list[dict[str, Any]],
        send_time: datetime | None = None,
    ) -> QueuedMessage:
        """The queue entry `queue_id` for a stored message (its blob), not saved: the caller saves it with
        whatever must be recorded in the same transaction."""
        now = self.app.clock()
        return QueuedMessage(
            queue_id=queue_id,
            user_id=user_id,
            parent_id=parent_id,
            reason=reason,
            sender=sender,
            blob=blob,
            size=size,
            deliveries=[{**d, "seq": delivery_seq(i)} for i, d in enumerate(deliveries)],
            send_time=max(send_time or now, now),
            created_at=now,
        )

    def get(self, queue_id: str) -> QueuedMessage | None:
        try:
            return self.app.repository.get(QueuedMessage.create_id(queue_id))
        except (AggregateNotFoundError, ValueError):
            return None

    def claim(self, queue_id: str, seqs: list[str], worker: str, lease: timedelta) -> list[str]:
        """Claim deliveries for one worker; a worker that loses the race to another gets nothing."""
        message = self.get(queue_id)
        if message is None:
            return []
        taken = message.claim(seqs, worker, self.app.clock(), lease)
        if not taken:
            return []
        try:
            self.app.save(message)
        except IntegrityError:
            return []  # someone else changed this message first: they own it now
        return taken

    def record(self, queue_id: str, seq: str, outcome: str, response: str, waits: list[timedelta]) -> str:
        def command() -> str:
            message = self.get(queue_id)
            assert message is not None
            status = message.record_attempt(seq, outcome, response[:2000], self.app.clock(), waits)
            self.app.save(message)
            return status

        return self._retrying(command)

    def delete(self, queue_id: str) -> int:
        def command() -> int:
            message = self.get(queue_id)
            if message is None:
                return 0
            seqs = message.delete(self.app.clock())
            self.app.save(message)
            return len(seqs)

        return self._retrying(command)

    def _retrying(self, command: Callable[[], T]) -> T:
        return self.app.retrying(command)
