"""The outbound queue's service: putting a message in it (bytes to the blob table, one delivery per recipient
or forward target), and the delivery worker that takes due deliveries, sends them and records the outcome.
A bounce tells the sender with a delivery status notification in their INBOX."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import format_datetime, make_msgid
from typing import Any

import structlog

from chainmail.domain.mail.outbound import OutboundCommands, QueuedMessage, defer_times
from chainmail.mail.mime import parse_message
from chainmail.mail.smtp_out import Attempt, Sender, sender_domain, sign, without_bcc
from chainmail.projections import outbound as outbound_model
from chainmail.projections import settings as settings_model
from chainmail.projections.keys import dkim_signing_key
from chainmail.store.blobs import blob_ref, get_blob, put_blob
from chainmail.system import System

log = structlog.get_logger(__name__)

NO_BOUNCE_FOR = ("bounce", "autoreply")  # never answer an automatic message with another one


def plain_deliveries(recipients: list[str]) -> list[dict[str, Any]]:
    """One delivery per distinct recipient address (case-insensitive), in the order given."""
    seen: dict[str, str] = {}
    for address in recipients:
        seen.setdefault(address.strip().lower(), address.strip())
    return [{"recipient": address, "target": None} for address in seen.values() if address]


def forward_deliveries(targets: list[dict[str, Any]], recipient: str) -> list[dict[str, Any]]:
    """Deliveries for forward targets `{type, value}`: `mail` goes to its address, `relay` and `http`
    carry the original recipient to the target (as WildDuck's maildropper does)."""
    found = []
    for target in targets:
        kind, value = target.get("type"), target.get("value")
        if not value or kind not in ("mail", "relay", "http"):
            continue
        to = value if kind == "mail" else recipient
        found.append({"recipient": to, "target": {"type": kind, "value": value}, "forwardedFor": recipient})
    return found


class OutboundQueue:
    def __init__(self, system: System, sender: Sender | None = None, worker: str | None = None) -> None:
        self.system, self.engine = system, system.engine
        self.commands = OutboundCommands(system.mail)
        self.hostname = system.settings.email_domain
        self.sender = sender or Sender(self.hostname, system.settings.smtp_relay)
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"

    # -- queueing ---------------------------------------------------------------------------

    def queue(
        self,
        raw: bytes,
        *,
        user_id: str | None,
        parent_id: str | None,
        reason: str,
        envelope_from: str,
        deliveries: list[dict[str, Any]],
        send_time: datetime | None = None,
    ) -> str | None:
        """Queue `raw` for `deliveries` (no rule to decide them by); None when there is no one to deliver to."""
        return self.queue_decided(
            raw,
            owner=None,
            decide=lambda: deliveries,
            user_id=user_id,
            parent_id=parent_id,
            reason=reason,
            envelope_from=envelope_from,
            send_time=send_time,
        )

    def queue_decided(
        self,
        raw: bytes,
        *,
        owner: str | None,
        decide: Callable[[], list[dict[str, Any]]],
        user_id: str | None,
        parent_id: str | None,
        reason: str,
        envelope_from: str,
        send_time: datetime | None = None,
    ) -> str | None:
        """Queue `raw` for the deliveries `decide()` lets through, decided in the turn of `owner` (the account
        or forwarded address whose rule counts them: a daily limit, one autoreply per sender), so that
        entries queued at once are decided one after another (`owner` None: no rule, saved at once); None when
        it lets none through. Saved in one transaction with its blob."""
        queue_id = self.new_id()

        def entry() -> QueuedMessage | None:
            deliveries = decide()
            if not deliveries:
                return None
            return self.entry(
                queue_id,
                raw,
                user_id=user_id,
                parent_id=parent_id,
                reason=reason,
                envelope_from=envelope_from,
                deliveries=deliveries,
                send_time=send_time,
            )

        return self.commands.queue_decided(owner, entry, within=lambda tx: put_blob(tx, raw))

    def new_id(self) -> str:
        return self.commands.new_id()

    def entry(
        self,
        queue_id: str,
        raw: bytes,
        *,
        user_id: str | None,
        parent_id: str | None,
        reason: str,
        envelope_from: str,
        deliveries: list[dict[str, Any]],
        send_time: datetime | None = None,
    ) -> QueuedMessage:
        """The queue entry `queue_id` for `raw`, not saved: `queue` saves it with its blob; a save that stores
        `raw` itself (a copy in Sent, a delivered message) takes it along, so that the message and its
        delivery are recorded together or not at all."""
        blob = blob_ref(raw)
        return self.commands.queued(
            queue_id,
            user_id=user_id,
            parent_id=parent_id,
            reason=reason,
            sender=envelope_from,
            blob=blob.sha256,
            size=blob.size,
            deliveries=deliveries,
            send_time=send_time,
        )

    # -- delivering -------------------------------------------------------------------------

    def run_once(self, limit: int = 100) -> int:
        """Attempt every due delivery this worker can claim (up to `limit`); the number attempted."""
        now = self.system.mail.clock()
        with self.engine.connect() as conn:
            due = outbound_model.due_deliveries(conn, now, limit)
            waits = defer_times(settings_model.setting(conn, "const:sender:defer_times", None))
        by_queue: dict[str, list[dict[str, Any]]] = {}
        for row in due:
            by_queue.setdefault(row["queue_id"], []).append(row)
        attempted = 0
        for queue_id, rows in by_queue.items():
            lease = timedelta(seconds=self.system.settings.deliver_claim_lease)
            claimed = set(self.commands.claim(queue_id, [r["seq"] for r in rows], self.worker, lease))
            if not claimed:
                continue
            raw = self._outgoing(rows[0])
            for row in rows:
                if row["seq"] in claimed:
                    self._attempt(row, raw, waits)
                    attempted += 1
        return attempted

    def run_forever(self, poll_interval: float, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            try:
                attempted = self.run_once()
            except Exception:  # a broken database moment must not end the worker
                log.exception("delivery pass failed")
                attempted = 0
            if attempted == 0:
                time.sleep(poll_interval)

    def _outgoing(self, row: dict[str, Any]) -> bytes:
        with self.engine.connect() as conn:
            raw = get_blob(conn, row["blob"]) or b""
            outgoing = without_bcc(raw)
            try:
                key = dkim_signing_key(conn, sender_domain(outgoing, row["sender"]), self.system.mail.sealer)
                return sign(outgoing, key)
            except Exception:  # an unusable key (or one that cannot be unsealed) sends unsigned rather than never
                log.exception("dkim signing failed", queue_id=row["queue_id"])
                return outgoing

    def _attempt(self, row: dict[str, Any], raw: bytes, waits: list[timedelta]) -> None:
        try:
            attempt = self.sender.send(row["sender"], row["recipient"], raw, row["target"])
        except Exception as error:  # anything unforeseen is a temporary failure, never a lost message
            log.exception("delivery attempt failed", queue_id=row["queue_id"], seq=row["seq"])
            attempt = Attempt("deferred", f"451 4.3.0 {type(error).__name__}: {error}")
        status = self.commands.record(row["queue_id"], row["seq"], attempt.outcome, attempt.response, waits)
        log.info(
            "delivery",
            queue_id=row["queue_id"],
            seq=row["seq"],
            recipient=row["recipient"],
            status=status,
            response=attempt.response,
        )
        if status == "bounced" and row["user_id"] and row["reason"] not in NO_BOUNCE_FOR:
            self._notify_sender(row, raw, attempt.response)

    def _notify_sender(self, row: dict[str, Any], raw: bytes, response: str) -> None:
        from chainmail.mail.store import MailStore

        report = bounce_report(self.hostname, row, raw, response, self.system.mail.clock())
        try:
            MailStore(self.system).deliver(row["user_id"], report, envelope={"from": "", "rcpt": []})
        except Exception:  # the sender's account may be gone or full; the bounce itself is recorded
            log.exception("bounce notification failed", queue_id=row["queue_id"], user=row["user_id"])


def bounce_report(hostname: str, row: dict[str, Any], raw: bytes, response: str, now: datetime) -> bytes:
    """A delivery status notification (RFC 3464) for one failed recipient, with the original headers."""
    original = parse_message(raw)
    boundary = "dsn-" + make_msgid(domain=hostname).strip("<>").replace("@", "-")
    code = response.split(" ", 2)
    status = code[1] if len(code) > 1 and code[1][:1] in "45" and code[1].count(".") == 2 else "5.0.0"
    diagnostic = " ".join(response.split())
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
    lines = [
        f"From: Mail Delivery Subsystem <mailer-daemon@{hostname}>",
        f"To: {row['sender'] or 'postmaster@' + hostname}",
        "Subject: Delivery Status Notification (Failure)",
        f"Date: {format_datetime(now)}",
        f"Message-ID: {make_msgid(domain=hostname)}",
        "Auto-Submitted: auto-replied",
        *([f"In-Reply-To: {original.message_id}", f"References: {original.message_id}"] if original.message_id else []),
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Delivery to the following recipient failed permanently:",
        "",
        f"    {row['recipient']}",
        "",
        "Technical details of permanent failure:",
        diagnostic,
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {hostname}",
        f"X-Queue-ID: {row['queue_id']}.{row['seq']}",
        f"Arrival-Date: {format_datetime(now)}",
        "",
        f"Final-Recipient: rfc822; {row['recipient']}",
        "Action: failed",
        f"Status: {status}",
        f"Diagnostic-Code: smtp; {diagnostic}",
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
    ]
    return "\r\n".join(lines).encode() + b"\r\n" + head + f"\r\n\r\n--{boundary}--\r\n".encode()
