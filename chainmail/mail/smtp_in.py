"""The inbound edge: an aiosmtpd SMTP or LMTP server (`chainmail smtp`) that accepts mail for local
addresses only and hands every message to the inbound delivery (filters, forwards, autoreply)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from chainmail.domain.errors import DomainError
from chainmail.mail.inbound import Inbound, Recipient, resolve_recipient
from chainmail.mail.queue import bounce_report
from chainmail.metrics import smtp_outcome
from chainmail.system import System

log = structlog.get_logger(__name__)

MAX_MESSAGE_SIZE = 64 * 1024 * 1024
MAX_HOPS = 30  # a message that has passed this many MTAs is going round in circles (WildDuck's limit)
RECEIVED = re.compile(rb"^received:", re.I | re.M)


class Receiver:
    """The aiosmtpd handler: RCPT TO is checked against the addresses read model, DATA is delivered."""

    def __init__(self, system: System, *, lmtp: bool = False) -> None:
        self.system, self.lmtp = system, lmtp
        self.inbound = Inbound(system)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        loop = asyncio.get_running_loop()
        try:
            recipient = await loop.run_in_executor(None, resolve_recipient, self.system, address)
        except Exception:
            log.exception("recipient lookup failed", address=address)
            return smtp_outcome("451 4.3.0 Temporary lookup failure, try again later")
        if recipient is None:
            return smtp_outcome(f"550 5.1.1 <{address}>: Recipient address rejected: unknown user")
        resolved: dict[str, Recipient] = getattr(envelope, "resolved", {})
        resolved[address] = recipient
        envelope.resolved = resolved  # type: ignore[attr-defined]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        head = content.split(b"\r\n\r\n", 1)[0]
        if len(RECEIVED.findall(head)) >= MAX_HOPS:
            return smtp_outcome("554 5.4.6 Routing loop detected: too many Received headers")
        raw = self._received(session) + content
        loop = asyncio.get_running_loop()
        answers = []
        for address in envelope.rcpt_tos:
            recipient = envelope.resolved[address]  # type: ignore[attr-defined]
            answer = await loop.run_in_executor(None, self._deliver, envelope, recipient, address, raw)
            answers.append(smtp_outcome(answer))
        if self.lmtp:
            return "\r\n".join(answers)  # LMTP answers DATA once per recipient
        failed = [(a, answer) for a, answer in zip(envelope.rcpt_tos, answers, strict=True) if answer[:1] != "2"]
        if failed and len(failed) == len(answers):
            return failed[0][1]
        if failed:
            # SMTP has one answer for all: the message was taken for the others, so the sender learns of
            # the recipients it did not reach from a bounce report, as from any MTA.
            await loop.run_in_executor(None, self._bounce, envelope, raw, failed)
        return "250 2.0.0 Message accepted for delivery"

    def _bounce(self, envelope: Envelope, raw: bytes, failed: list[tuple[str, str]]) -> None:
        sender = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        if not sender:
            return  # never answer a bounce with a bounce
        now = self.system.mail.clock()
        for address, answer in failed:
            row = {"sender": sender, "recipient": address, "queue_id": "inbound", "seq": "000"}
            report = bounce_report(self.system.settings.email_domain, row, raw, answer, now)
            self.inbound.queue.queue(
                report,
                user_id=None,
                parent_id=None,
                reason="bounce",
                envelope_from="",
                deliveries=[{"recipient": sender, "target": None}],
            )

    def _deliver(self, envelope: Envelope, recipient: Recipient, address: str, raw: bytes) -> str:
        try:
            sender = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
            received = self.inbound.receive(sender, recipient, address, raw)
        except DomainError as error:
            log.info("delivery refused", recipient=address, code=error.code, reason=error.message)
            if error.code == "OverQuotaError":
                return f"552 5.2.2 <{address}>: Mailbox full"
            if error.code == "EmptyMessage":
                return "554 5.6.0 Message is empty"
            return f"550 5.7.1 <{address}>: {error.message}"
        except Exception:
            log.exception("delivery failed", recipient=address)
            return "451 4.3.0 Temporary failure, try again later"
        log.info("received", recipient=address, user=received.user_id, mailbox=received.mailbox, uid=received.uid)
        return f"250 2.0.0 <{address}> Message accepted"

    def _received(self, session: Session) -> bytes:
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "unknown")
        protocol = "LMTP" if self.lmtp else "ESMTP"
        line = (
            f"Received: from {session.host_name or 'unknown'} ([{peer}])\r\n"
            f" by {self.system.settings.email_domain} with {protocol}; {format_datetime(datetime.now(UTC))}\r\n"
        )
        return line.encode()


class ReceiverController(Controller):
    """aiosmtpd's threaded controller, serving SMTP or LMTP with chainmail's receiver."""

    def __init__(self, system: System, host: str, port: int, *, lmtp: bool = False) -> None:
        self.use_lmtp = lmtp
        super().__init__(
            Receiver(system, lmtp=lmtp),
            hostname=host,
            port=port,
            server_hostname=system.settings.email_domain,
            data_size_limit=MAX_MESSAGE_SIZE,
        )

    def factory(self) -> Any:
        if self.use_lmtp:
            return LMTP(self.handler, **self.SMTP_kwargs)
        return super().factory()
