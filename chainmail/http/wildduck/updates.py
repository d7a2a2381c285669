"""WildDuck's live updates: `GET /users/:user/updates` streams a user's mailbox changes as Server-Sent
Events, read from the Mail event store, resumable with `Last-Event-ID` (the event's notification id)."""

from __future__ import annotations

import json
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import falcon
from eventsourcing.utils import get_topic
from sqlalchemy import select

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.mailboxes import Mailbox
from chainmail.http.auth import require
from chainmail.http.buffered import NUDGE, PAUSE, Pause
from chainmail.http.router import Router
from chainmail.http.validation import Number, ObjectIdParam, WildDuckInput, parse
from chainmail.mail.store import MailStore
from chainmail.projections import messages as messages_model
from chainmail.projections.mailboxes import mailboxes
from chainmail.store.events import Position, position_of, present_position, select_notifications
from chainmail.system import System

TOPICS = [
    get_topic(cls)
    for cls in (
        Mailbox.Created,
        Mailbox.Renamed,
        Mailbox.Deleted,
        Mailbox.MessagesAppended,
        Mailbox.MessagesFlagged,
        Mailbox.MessagesRemoved,
    )
]
POLL_SECONDS = 1.0
IDLE_EVERY = 15  # polls (of POLL_SECONDS) without news between keep-alive comments
PAGE = 200  # notifications a read brings at most
FEED_KEEP = 2000  # notifications a process keeps for its live streams; a stream left further behind reads alone


class Updates(WildDuckInput):
    user: ObjectIdParam
    # Last-Event-ID may also come as a query parameter, as WildDuck allows.
    last_event_id: Number | None = None


def sse(payload: dict[str, Any], event_id: int | None) -> bytes:
    lines = "".join(f"data: {line}\n" for line in json.dumps(payload, indent=2, ensure_ascii=False).split("\n"))
    return (lines + (f"id: {event_id}\n" if event_id is not None else "") + "\n").encode()


def journal(event: Any, user_id: str, owner_of: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """The journal entries (WildDuck's EXISTS/EXPUNGE/FETCH/CREATE/RENAME/DELETE) of one event for one user."""
    mailbox = object_id_of(event.originator_id)
    if isinstance(event, Mailbox.Created):
        return [{"command": "CREATE", "mailbox": mailbox, "path": event.path}] if event.user_id == user_id else []
    if isinstance(event, Mailbox.Renamed):
        return [{"command": "RENAME", "mailbox": mailbox, "path": event.path}] if owner_of(mailbox) == user_id else []
    if getattr(event, "user_id", None) != user_id:
        return []
    if isinstance(event, Mailbox.Deleted):
        return [{"command": "DELETE", "mailbox": mailbox}]
    if isinstance(event, Mailbox.MessagesAppended):
        return [
            {
                "command": "EXISTS",
                "mailbox": mailbox,
                "message": m["message"],
                "uid": m["uid"],
                "thread": m["thread"],
                "unseen": "\\Seen" not in m["flags"],
                "idate": m["idate"],
                "modseq": event.modseq,
            }
            for m in event.messages
        ]
    if isinstance(event, Mailbox.MessagesFlagged):
        return [
            {
                "command": "FETCH",
                "mailbox": mailbox,
                "message": c["message"],
                "uid": c["uid"],
                "flags": c["flags"],
                "modseq": event.modseq,
            }
            for c in event.changes
        ]
    if isinstance(event, Mailbox.MessagesRemoved):
        return [
            {"command": "EXPUNGE", "mailbox": mailbox, "message": r["message"], "uid": r["uid"]} for r in event.removed
        ]
    return []


@dataclass(frozen=True)
class Note:
    position: Position
    id: int
    event: Any  # decoded once, for every stream
    owner: str | None = None  # a renamed folder's owner (its event does not name it), looked up once

    def owner_of(self, _mailbox: str) -> str | None:
        return self.owner


@dataclass(frozen=True)
class Read:
    notes: list[Note]
    end: Position  # every notification (of TOPICS) after the position read from, up to here, is in `notes`
    more: bool  # the page was full: there is more to read at once


class SharedFeed:
    """The Mail journal's recent notifications, read once for every live stream of this process. A stream
    asks for what follows its position, and the store is read at most once a `poll_seconds` whatever the
    number of streams. (Each stream used to read it every second: a thousand connected mail clients, a
    thousand reads a second of nothing new.) The feed keeps the last `keep` notifications, decoded. A position
    it does not cover (a replay from an old Last-Event-ID, a stream left far behind) is read alone, as before,
    until it catches up."""

    def __init__(
        self,
        system: System,
        *,
        poll_seconds: float,
        keep: int = FEED_KEEP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.system, self.poll_seconds, self.keep, self.clock = system, poll_seconds, keep, clock
        self._lock = threading.Lock()
        self._notes: list[Note] = []
        self._positions: list[Position] = []
        self._start: Position | None = None  # the feed holds every notification after this position...
        self._end: Position | None = None  # ... up to this one
        self._more = False
        self._read_at = float("-inf")
        self._latest: dict[str, Position] = {}  # each user's latest notification in the feed
        self._claim_lock = threading.Lock()  # never held across a read: `wake_for` runs on the event loop
        self._claimed_at = float("-inf")

    def after(self, position: Position, nudge: Callable[[], None] | None = None) -> Read:
        """What follows `position`: from the feed, read anew if it is older than `poll_seconds`. A read that
        brings news calls `nudge` (the server's: every paused stream then asks its `wake_for` at once)."""
        read, brought = self._after(position)
        if brought and nudge is not None:
            nudge()
        return read

    def _after(self, position: Position) -> tuple[Read, bool]:
        """What follows `position`, and whether a read of the store brought news."""
        brought = False
        with self._lock:
            if self._start is None or self._end is None:  # the first stream: the feed starts from the present
                with self.system.engine.connect() as conn:
                    self._start = self._end = present_position(conn, self.system.mail.name)
                self._read_at = self.clock()
            elif position >= self._start and (self._more or self.clock() - self._read_at >= self.poll_seconds):
                read = self.read(self._end)
                self._extend(read)
                brought = bool(read.notes)
            start, end = self._start, self._end
            if start <= position <= end:
                return Read(self._notes[bisect_right(self._positions, position) :], end, self._more), brought
            if position > end:  # a stream younger than the last read: nothing yet
                return Read([], position, False), brought
        return self.read(position), brought

    def wake_for(self, user_id: str, position: Position) -> Callable[[], bool]:
        """Whether a stream of `user_id` paused at `position` should ask the feed again (for `Pause`, on the
        loop: no read, no wait): the feed holds news of that user past it, or it is due a read and no other
        stream has said it will make it (one stream reads for all; the others wake only for their news)."""

        def wake() -> bool:
            latest = self._latest.get(user_id)
            if latest is not None and latest > position:
                return True
            now = self.clock()
            if not self._more and now - self._read_at < self.poll_seconds:
                return False
            with self._claim_lock:
                if now - self._claimed_at < self.poll_seconds:
                    return False  # another stream is reading (or will be shortly)
                self._claimed_at = now
                return True

        return wake

    def read(self, position: Position) -> Read:
        """The store itself, after `position`."""
        app = self.system.mail
        with self.system.engine.connect() as conn:
            present = present_position(conn, app.name)  # settled before the read: it covers up to here at least
            found = select_notifications(conn, app.name, after=position, limit=PAGE, topics=TOPICS)
        events = [app.mapper.to_domain_event(n) for n in found]
        renamed = {object_id_of(e.originator_id) for e in events if isinstance(e, Mailbox.Renamed)}
        owners = self._owners(renamed) if renamed else {}
        notes = [
            Note(n.position, n.id, e, owners.get(object_id_of(e.originator_id)) if owners else None)
            for n, e in zip(found, events, strict=True)
        ]
        more = len(found) == PAGE
        end = found[-1].position if found else position
        return Read(notes, end if more else max(end, present), more)

    def _owners(self, mailbox_ids: set[str]) -> dict[str, str]:
        with self.system.engine.connect() as conn:
            query = select(mailboxes.c.id, mailboxes.c.user_id).where(mailboxes.c.id.in_(sorted(mailbox_ids)))
            return {row.id: row.user_id for row in conn.execute(query)}

    def _extend(self, read: Read) -> None:
        self._notes += read.notes
        self._positions += [note.position for note in read.notes]
        for note in read.notes:
            user = note.owner or getattr(note.event, "user_id", None)
            if user is not None:
                self._latest[user] = note.position
        self._end, self._more, self._read_at = read.end, read.more, self.clock()
        if len(self._notes) > self.keep:
            dropped = len(self._notes) - self.keep
            self._start = self._positions[dropped - 1]
            del self._notes[:dropped], self._positions[:dropped]
            self._latest = {user: at for user, at in self._latest.items() if at > self._start}


class UpdatesResource:
    def __init__(self, system: System, *, poll_seconds: float = POLL_SECONDS, feed: SharedFeed | None = None) -> None:
        self.system, self.store, self.poll_seconds = system, MailStore(system), poll_seconds
        self.feed = feed or SharedFeed(system, poll_seconds=poll_seconds)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params_in = dict(req.context.params)
        if "Last-Event-ID" in params_in:
            params_in["last_event_id"] = params_in.pop("Last-Event-ID")
        params = parse(Updates, params_in)
        require(req.context.principal, "read", "mailboxes", params.user)
        self.store.user(params.user)
        header = req.get_header("Last-Event-ID")
        start = params.last_event_id
        if start is None and header and header.strip().isdigit():
            start = int(header.strip())
        resp.content_type = "text/event-stream"
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("X-Accel-Buffering", "no")  # as WildDuck: a proxy in front (nginx) passes events at once
        at = None if start is None else int(start)
        resp.stream = self.stream(params.user, at, pause=req.env.get(PAUSE), nudge=req.env.get(NUDGE))

    def stream(
        self,
        user_id: str,
        start: int | None,
        *,
        polls: int | None = None,
        pause: type[Pause] | None = None,
        nudge: Callable[[], None] | None = None,
    ) -> Iterator[bytes]:
        """The user's journal from `start` (or from now), polled every `poll_seconds`. Between polls it yields a
        `pause` where the server offers one (`chainmail serve`: the wait holds no app thread), else sleeps."""
        app = self.system.mail
        with self.system.engine.connect() as conn:
            # in commit order (appends run in parallel: ids do not commit in order); event ids stay ids
            position = present_position(conn, app.name) if start is None else position_of(conn, app.name, start)
        replaying = start is not None
        # WildDuck's ": idling N" comments: one at once when the stream has nothing to send (the client then has
        # the answer's headers), then one after `idle_after` seconds in which it sent nothing (other users'
        # news is not this stream's)
        clock, idle_after = self.feed.clock, IDLE_EVERY * self.poll_seconds
        comments = done = 0
        spoke, said_at = False, clock()
        touched: set[str] = set()  # the folders a replay touched, on every page of it
        replayed_to: int | None = None  # the id of the last event it sent
        while polls is None or done < polls:
            done += 1
            read = self.feed.after(position, nudge)
            position = read.end
            sent = 0
            for note in read.notes:
                for entry in journal(note.event, user_id, note.owner_of):
                    if replaying:
                        touched.add(entry["mailbox"])
                        replayed_to = note.id
                    sent += 1
                    yield sse(entry, note.id)
            if replaying and not read.more:
                replaying = False
                for counters in self._counters(touched, replayed_to):
                    sent += 1
                    yield counters
            if sent:
                spoke, said_at = True, clock()
            if read.more:
                continue  # more to read at once
            if not spoke or clock() - said_at >= idle_after:
                comments, spoke, said_at = comments + 1, True, clock()
                yield f": idling {comments}\n\n".encode()
            if pause is not None:  # woken by its user's news, a read due, or its next comment
                wake = self.feed.wake_for(user_id, position)
                yield pause(self.poll_seconds, wake, within=idle_after - (clock() - said_at))
            else:
                time.sleep(self.poll_seconds)

    def _counters(self, touched: set[str], last_id: int | None) -> Iterator[bytes]:
        """After a replay, the counters of each folder it touched, with the id of its last event (WildDuck's)."""
        if not touched:
            return
        with self.system.engine.connect() as conn:
            counts = messages_model.mailbox_counters(conn, sorted(touched))
        for mailbox_id in sorted(touched):
            entry = {
                "command": "COUNTERS",
                "mailbox": mailbox_id,
                **{k: counts[mailbox_id][k] for k in ("total", "unseen")},
            }
            yield sse(entry, last_id)


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/updates", UpdatesResource(system))
