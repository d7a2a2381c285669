"""Mail arriving for local addresses (what the SMTP/LMTP receiver hands over): find who an address delivers
to (a user, through wildcards and domain aliases, or a forwarded address's targets), store it through the
mail store's delivery (filters, autoreply decision), and queue what follows: forward copies and the
autoreply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

import structlog

from chainmail.domain.mail.names import normalize_address, uview
from chainmail.domain.mail.outbound import QueuedMessage
from chainmail.mail import webhook_calls
from chainmail.mail.filters import Outcome
from chainmail.mail.mime import Composition, build_message, parse_message
from chainmail.mail.queue import OutboundQueue, forward_deliveries
from chainmail.mail.store import Condition, MailStore, Stored, in_window
from chainmail.projections import addresses as addresses_model
from chainmail.projections import domains as domains_model
from chainmail.projections import outbound as outbound_model
from chainmail.projections import settings as settings_model
from chainmail.store.postgres_events import turn_reads
from chainmail.system import System

log = structlog.get_logger(__name__)

AUTOREPLY_INTERVAL_MS = 4 * 3600 * 1000  # `const:autoreply:interval` default
NO_AUTOREPLY_SENDER = ("mailer-daemon", "noreply", "no-reply")


@dataclass(frozen=True)
class Recipient:
    address: str  # as it was resolved (the address row's own form)
    user_id: str | None  # None for a forwarded address
    targets: list[dict[str, Any]] = field(default_factory=list)  # a forwarded address's targets
    address_id: str | None = None
    autoreply: dict[str, Any] | None = None  # a forwarded address's own autoreply settings
    profile: dict[str, Any] | None = None  # a forwarded address's limits (`forwards`)


@dataclass(frozen=True)
class Received:
    recipient: str
    user_id: str | None
    mailbox: str | None = None
    uid: int | None = None
    forward_queue_id: str | None = None
    autoreply_queue_id: str | None = None


def resolve_recipient(system: System, address: str) -> Recipient | None:
    """The address row an RCPT TO reaches: exact (labels and dots ignored), in the domain an alias stands
    for, then the wildcards `*@domain` and `local@*`."""
    if "@" not in address:
        return None
    wanted = normalize_address(address, remove_label=True)
    with system.engine.connect() as conn:
        row = addresses_model.find_address(conn, uview(wanted))
        local, _, domain = wanted.rpartition("@")
        if row is None:
            target = domains_model.alias_target(conn, domain)
            if target:
                wanted = f"{local}@{target}"
                row = addresses_model.find_address(conn, uview(wanted))
        if row is None:
            local, _, domain = wanted.rpartition("@")
            for candidate in (uview(f"*@{domain}"), uview(f"{local}@*")):
                row = addresses_model.find_address(conn, candidate)
                if row is not None:
                    break
    if row is None:
        return None
    if row["user_id"]:
        return Recipient(row["address"], row["user_id"])
    profile = row["profile"] or {}
    targets = [t for t in profile.get("targets", []) if t.get("value")]
    return Recipient(row["address"], None, targets, row["id"], profile.get("autoreply"), profile)


class Inbound:
    def __init__(self, system: System, queue: OutboundQueue | None = None) -> None:
        self.system = system
        self.store = MailStore(system)
        self.queue = queue or OutboundQueue(system)

    def receive(self, envelope_from: str, recipient: Recipient, rcpt_to: str, raw: bytes) -> Received:
        """Deliver one message to one resolved recipient."""
        envelope = {"from": envelope_from, "rcpt": [{"value": rcpt_to, "formatted": rcpt_to}]}
        if recipient.user_id is None:
            assert recipient.address_id is not None
            address_id = recipient.address_id
            queue_id = self.queue.queue_decided(
                raw,
                owner=address_id,
                decide=lambda: self._within_limit(address_id, recipient.profile, recipient.targets, rcpt_to),
                user_id=None,
                parent_id=address_id,
                reason="forward",
                envelope_from=envelope_from,
            )
            autoreply_id = None
            if recipient.address_id and in_window(recipient.autoreply, self.system.mail.clock()):
                assert recipient.autoreply is not None
                autoreply_id = self._autoreply(
                    None, recipient.address_id, recipient.address, envelope_from, raw, recipient.autoreply, {}
                )
            return Received(rcpt_to, None, forward_queue_id=queue_id, autoreply_queue_id=autoreply_id)

        user = self.store.user(recipient.user_id)
        owner = recipient.user_id
        own_targets = [t for t in (user["profile"] or {}).get("targets", []) if t.get("value")]
        entry_id = self.queue.new_id()
        decided: list[dict[str, Any]] = []  # the forward deliveries the account's turn let through

        def limit(outcome: Outcome) -> Condition | None:
            """The daily forward limit, decided in the account's turn against every forward committed before
            and those saved with it: deliveries at once cannot together pass a limit with room for one."""
            deliveries = forward_deliveries(list(outcome.targets) + own_targets, rcpt_to)
            return self._forward_limit(owner, user["profile"], deliveries, decided) if deliveries else None

        def forward(outcome: Outcome, message_id: str) -> list[QueuedMessage]:
            """The forward of the stored message, saved with it: kept and forwarded together or neither, so
            that a sender that tries again gets neither twice."""
            if not decided:
                return []
            entry = self.queue.entry(
                entry_id,
                raw,
                user_id=owner,
                parent_id=message_id,
                reason="forward",
                envelope_from=envelope_from,
                deliveries=list(decided),
            )
            return [entry]

        delivery = self.store.deliver(owner, raw, envelope=envelope, companions=forward, condition=limit)
        if delivery.stored is None:  # a filter deleted it: the forward goes alone
            targets = list(delivery.outcome.targets) + own_targets
            forward_id = self.queue.queue_decided(
                raw,
                owner=owner,
                decide=lambda: self._within_limit(owner, user["profile"], targets, rcpt_to),
                user_id=owner,
                parent_id=None,
                reason="forward",
                envelope_from=envelope_from,
            )
        else:
            forward_id = entry_id if decided else None
        autoreply_id = None
        if delivery.autoreply is not None:
            autoreply_id = self._autoreply(
                recipient.user_id, recipient.user_id, recipient.address, envelope_from, raw, delivery.autoreply, user
            )
        stored = delivery.stored
        if stored is not None:
            self._message_new(recipient.user_id, stored, raw, envelope_from)
        return Received(
            rcpt_to,
            recipient.user_id,
            stored.mailbox if stored else None,
            stored.uid if stored else None,
            forward_id,
            autoreply_id,
        )

    def _within_limit(
        self, owner: str, profile: Mapping[str, Any] | None, targets: list[dict[str, Any]], rcpt_to: str
    ) -> list[dict[str, Any]]:
        """The forward deliveries of a forward saved alone (a forwarded address's, or one whose message a
        filter deleted), or none once the owner's daily limit is used: checked in the owner's turn, just
        before its save (`OutboundQueue.queue_decided`)."""
        deliveries = forward_deliveries(targets, rcpt_to)
        decided: list[dict[str, Any]] = []
        if deliveries:
            self._forward_limit(owner, profile, deliveries, decided).alone(self.system.engine)
        return decided

    def _forward_limit(
        self,
        owner: str,
        profile: Mapping[str, Any] | None,
        deliveries: list[dict[str, Any]],
        decided: list[dict[str, Any]],
    ) -> Condition:
        """The owner's daily `forwards` (its `profile`'s own, else `const:max:forwards`): the check puts in
        `decided` the `deliveries`, or none when they would pass it, and adds them to the forwards counted."""
        own = profile or {}
        custom: Mapping[str, Any] = {}
        if not own.get("forwards"):  # the administrator's setting is read only when it can decide
            with self.system.engine.connect() as conn:
                custom = settings_model.custom_settings(conn)
        allowed = settings_model.account_limit(own, "forwards", custom, "const:max:forwards")

        def holds(rows: list[list[dict[str, Any]]], pending: Mapping[str, int]) -> Mapping[str, int]:
            used = int(rows[0][0]["count"]) + pending.get("forwards", 0)
            within = used + len(deliveries) <= allowed
            if not within:
                log.info("forward limit reached", owner=owner, allowed=allowed, used=used)
            decided[:] = deliveries if within else []
            return {"forwards": len(decided)}

        since = self.system.mail.clock() - timedelta(days=1)
        return Condition([outbound_model.forwards_since_read(owner, since)], holds)

    def _message_new(self, user_id: str, stored: Stored, raw: bytes, envelope_from: str) -> None:
        with self.system.engine.connect() as conn:
            urls = webhook_calls.webhook_urls(conn, "messageNew", user_id)
        if not urls:
            return
        parsed = parse_message(raw)
        now = self.system.mail.clock()
        data = {
            "mailbox": stored.mailbox,
            "message": stored.message,
            "uid": stored.uid,
            "messageId": parsed.message_id,
            "from": (parsed.from_ or [{"name": "", "address": envelope_from}])[0],
            "to": parsed.to,
            "subject": parsed.subject,
            "size": stored.size,
        }
        webhook_calls.fire(urls, self.system.mail.ids.object_id(now), "messageNew", user_id, data, now)

    def _autoreply(
        self,
        user_id: str | None,
        owner: str,  # whose autoreply: the user, or the forwarded address
        own_address: str,
        sender: str,
        raw: bytes,
        settings: dict[str, Any],
        user: dict[str, Any],
    ) -> str | None:
        """WildDuck's autoreply rules: never to automatic mail, lists or no-reply senders, and once per
        sender per `const:autoreply:interval`."""
        lowered = sender.lower()
        if not sender or any(marker in lowered for marker in NO_AUTOREPLY_SENDER):
            return None
        parsed = parse_message(raw)
        auto = (parsed.header("auto-submitted") or "no").strip().lower()
        precedence = (parsed.header("precedence") or "").strip().lower()
        suppress = (parsed.header("x-auto-response-suppress") or "").lower()
        if auto != "no" or precedence in ("list", "junk", "bulk") or parsed.header("list-unsubscribe"):
            return None
        if "oof" in suppress or "autoreply" in suppress:
            return None
        now = self.system.mail.clock()
        with self.system.engine.connect() as conn:
            interval = settings_model.setting(conn, "const:autoreply:interval", AUTOREPLY_INTERVAL_MS)
        since = now - timedelta(milliseconds=int(interval or AUTOREPLY_INTERVAL_MS))

        def once_per_sender() -> list[dict[str, Any]]:
            """Read in the owner's turn: read outside it, messages from one sender delivered at once were
            each answered."""
            with turn_reads(self.system.engine) as conn:
                if outbound_model.autoreplied_since(conn, owner, sender, since):
                    return []
            return [{"recipient": sender, "target": None}]

        answer = autoreply_message(
            self.system.settings.email_domain,
            {"name": settings.get("name") or user.get("name") or "", "address": own_address},
            sender,
            parsed.subject,
            parsed.message_id,
            parsed.references,
            settings,
            now,
        )
        return self.queue.queue_decided(
            answer,
            owner=owner,
            decide=once_per_sender,
            user_id=user_id,
            parent_id=owner if user_id is None else None,
            reason="autoreply",
            envelope_from="",
        )


def autoreply_message(
    domain: str,
    from_: dict[str, str],
    to: str,
    subject: str,
    message_id: str,
    references: list[str],
    settings: dict[str, Any],
    now: datetime,
) -> bytes:
    headers = [("Auto-Submitted", "auto-replied")]
    if message_id:
        headers += [("In-Reply-To", message_id), ("References", " ".join([*references, message_id]).strip())]
    composition = Composition(
        from_=from_,
        to=[{"name": "", "address": to}],
        subject="Auto: " + (settings.get("subject") or f"Re: {subject}"),
        text=settings.get("text") or None,
        html=settings.get("html") or None,
        headers=headers,
        date=now,
        message_id=make_msgid(domain=domain),
    )
    return build_message(composition, domain=domain)
