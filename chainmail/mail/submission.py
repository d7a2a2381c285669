"""Sending mail from an account, as WildDuck's submit handlers do: compose (or take a stored draft), check the
sender address and the recipient limits, keep a copy in Sent (or Drafts), put one delivery per recipient in
the outbound queue, flag the message replied to or forwarded, and award the sender's points."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime, getaddresses
from functools import partial
from typing import Any

import structlog

from chainmail.domain.errors import Forbidden, Invalid, NotFound
from chainmail.domain.mail.names import normalize_address, uview
from chainmail.domain.mail.outbound import QueuedMessage
from chainmail.mail.mime import Composition, NewAttachment, build_message, html_to_text, parse_message
from chainmail.mail.queue import OutboundQueue, forward_deliveries, plain_deliveries
from chainmail.mail.store import Condition, MailStore, Stored, reflagged, user_not_found
from chainmail.projections import addresses as addresses_model
from chainmail.projections import mailboxes as mailboxes_model
from chainmail.projections import outbound as outbound_model
from chainmail.projections import settings as settings_model
from chainmail.projections import users as users_model
from chainmail.store.blobs import put_blob
from chainmail.store.prepared import read_together
from chainmail.system import System

log = structlog.get_logger(__name__)

MAX_RCPT_TO = 400  # `const:max:rcpt_to` default
REFERENCE_FLAGS = {"reply": ["\\Answered"], "replyAll": ["\\Answered"], "forward": ["\\Answered", "$Forwarded"]}
POINTS_ACTION = {"forward": "forward", "reply": "reply", "replyAll": "reply"}
_DATE_HEADER = re.compile(rb"^date:.*?(?=^\S|\Z)", re.I | re.M | re.S)


@dataclass
class Outgoing:
    """A message to send (the fields of `POST /users/:user/submit`)."""

    mailbox: str | None = None
    reference: dict[str, Any] | None = None  # {mailbox, id, action}
    draft: dict[str, Any] | None = None  # {mailbox, id}: a draft this message replaces
    is_draft: bool = False
    upload_only: bool = False
    send_time: datetime | None = None
    envelope_from: dict[str, str] | None = None
    envelope_to: list[dict[str, str]] | None = None
    from_: dict[str, str] | None = None
    reply_to: dict[str, str] | None = None
    to: list[dict[str, str]] | None = None
    cc: list[dict[str, str]] | None = None
    bcc: list[dict[str, str]] | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[NewAttachment] = field(default_factory=list)


@dataclass(frozen=True)
class SendingAccount:
    """An account about to send, read once: its row, the administrator's settings ({key: value}) and its first
    folder of the special use asked for (Sent or Drafts; None when it has none). What it sent today is read
    where the daily limit is checked (`_daily_limit`)."""

    user: dict[str, Any]
    settings: dict[str, Any]
    folder: str | None


@dataclass(frozen=True)
class Submitted:
    stored: Stored | None  # None when the account is over quota (sent, not kept)
    queue_id: str | None


def award_sending_points(system: System, username: str, action: str) -> None:
    """indexer.md §6.2: after a real submission the sender's wallet earns points for `send`, `reply` or
    `forward`. Accounts whose username is not a wallet earn nothing; a refusal (daily cap) never fails a send."""
    from chainmail.domain.identity.signatures import parse_wallet
    from chainmail.rewards.awards import award

    if parse_wallet(username) is None:
        return
    try:
        award(system, username, action)
    except Exception as error:  # fire-and-forget, as WildDuck treats the indexer call
        log.info("no points for submission", wallet=username, action=action, reason=str(error))


class Submission:
    def __init__(self, system: System, queue: OutboundQueue | None = None) -> None:
        self.system, self.engine = system, system.engine
        self.store = MailStore(system)
        self.queue = queue or OutboundQueue(system)

    # -- limits -----------------------------------------------------------------------------

    def _sender(self, user_id: str, special_use: str) -> SendingAccount:
        """The account that sends, with its settings and its folder of `special_use`: one round trip."""
        with self.engine.connect() as conn:
            account, folder = read_together(
                conn,
                [
                    users_model.user_and_settings_read(conn, user_id),
                    mailboxes_model.special_mailbox_read(user_id, special_use),
                ],
            )
        user, settings = users_model.user_and_settings_of(account)
        if user is None:
            raise user_not_found()
        if user.get("disabled") or user.get("suspended"):
            raise Forbidden("UserDisabled", "User account is disabled")
        return SendingAccount(user, settings, folder[0]["id"] if folder else None)

    def _too_many(self, sender: SendingAccount, count: int) -> None:
        """`TooMany` over `const:max:rcpt_to` recipients in one message."""
        max_rcpt = int(sender.settings.get("const:max:rcpt_to") or MAX_RCPT_TO)
        if count > max_rcpt:
            raise Forbidden("TooMany", "Your email has too many recipients", allowed=max_rcpt)

    def _within_daily_limit(self, sender: SendingAccount, sent_today: int, count: int) -> None:
        """`RateLimitedError` when `count` more recipients pass the account's daily recipient limit."""
        daily = settings_model.account_limit(
            sender.user["profile"], "recipients", sender.settings, "const:max:recipients"
        )
        if sent_today + count > daily:
            raise Forbidden("RateLimitedError", "You reached a daily sending limit for your account")

    def _daily_limit(self, sender: SendingAccount, count: int) -> Condition:
        """The daily recipient limit, checked once the account's turn is held, against the recipients of every
        submission committed before it and of those saved with it: submissions at once cannot together pass
        a limit that has room for one of them (the queue entry is saved in the same turn as the copy in Sent).
        An over-quota account's queue entry, saved alone, is checked against it just before its save."""
        since = self.system.mail.clock() - timedelta(days=1)

        def holds(rows: list[list[dict[str, Any]]], pending: Mapping[str, int]) -> None:
            self._within_daily_limit(sender, int(rows[0][0]["count"]) + pending.get("recipients", 0), count)

        read = outbound_model.recipients_since_read(sender.user["id"], since)
        return Condition([read], holds, {"recipients": count})

    def allowed_from(self, user: dict[str, Any], address: str | None) -> str:
        """WildDuck's `validateFromAddress`: the user's own addresses and its `fromWhitelist`, else the
        account's main address."""
        if not address:
            return user["address"]
        address = normalize_address(address)
        if address == user["address"]:
            return address
        for allowed in user["profile"].get("fromWhitelist") or []:
            if (
                allowed == address
                or (allowed.startswith("*") and allowed[1:] in address)
                or (allowed.endswith("*") and address.startswith(allowed[:-1]))
            ):
                return address
        with self.engine.connect() as conn:
            row = addresses_model.find_address(conn, uview(normalize_address(address, remove_label=True)))
        return address if row is not None and row["user_id"] == user["id"] else user["address"]

    # -- POST /users/:user/submit ------------------------------------------------------------

    def submit(self, user_id: str, out: Outgoing) -> Submitted:
        sender_account = self._sender(user_id, "\\Drafts" if out.is_draft else "\\Sent")
        user = sender_account.user
        quota = settings_model.account_limit(user["profile"], "quota", sender_account.settings, "const:max:storage")
        over_quota = quota - int(user["storage_used"] or 0) <= 0
        reference = self._reference(user, out.reference) if out.reference else None

        sender = out.envelope_from or out.from_ or {"name": user.get("name") or "", "address": user["address"]}
        from_ = dict(out.from_ or sender)
        envelope_from = sender["address"] if out.upload_only else self.allowed_from(user, sender.get("address"))
        if not out.upload_only:
            from_["address"] = self.allowed_from(user, from_.get("address"))
        to, cc = out.to or [], out.cc or []
        recipients = [a["address"] for a in out.envelope_to or []]
        if not recipients:
            recipients = [a["address"] for a in to + cc + (out.bcc or [])]
            if not recipients and reference and out.reference and out.reference["action"] in ("reply", "replyAll"):
                to, cc = reference["replyTo"], reference["replyCc"]
                recipients = [a["address"] for a in to + cc]
        deliveries = plain_deliveries(recipients)

        headers: list[tuple[str, str]] = []
        if reference and out.reference:
            if out.reference["action"] in ("reply", "replyAll") and reference["inReplyTo"]:
                headers.append(("In-Reply-To", reference["inReplyTo"]))
            if reference["references"]:
                headers.append(("References", reference["references"]))
        now = self.system.mail.clock()
        send_time = max(out.send_time or now, now)
        text = out.text
        if out.html and not text:
            text = html_to_text(out.html)
        raw = self._compose(
            Composition(
                from_=from_,
                reply_to=out.reply_to,
                to=to,
                cc=cc,
                bcc=out.bcc or [],
                subject=out.subject or (reference["subject"] if reference else "") or "",
                text=text,
                html=out.html,
                headers=headers + out.headers,
                attachments=out.attachments,
                date=send_time,
            )
        )

        sending = bool(deliveries) and not out.upload_only and not out.is_draft
        if sending:
            self._too_many(sender_account, len(deliveries))

        entry: dict[str, Any] = {
            "user_id": user_id,
            "reason": "submit",
            "envelope_from": envelope_from,
            "deliveries": deliveries,
            "send_time": send_time,
        }
        stored, queue_id = None, None
        limit = self._daily_limit(sender_account, len(deliveries)) if sending else None
        if over_quota:  # no copy is kept: the queue entry is saved alone, the limit checked in the turn
            if limit is not None:
                checked = limit

                def within_limit() -> list[dict[str, Any]]:
                    checked.alone(self.engine)
                    return deliveries

                queue_id = self.queue.queue_decided(
                    raw,
                    owner=user_id,
                    decide=within_limit,
                    user_id=user_id,
                    parent_id=None,
                    reason="submit",
                    envelope_from=envelope_from,
                    send_time=send_time,
                )
        else:  # the copy and its queue entry in one save: neither is recorded without the other
            queue_id = self.queue.new_id() if sending else None

            def queue_entry(message_id: str) -> list[QueuedMessage]:
                return [] if queue_id is None else [self.queue.entry(queue_id, raw, parent_id=message_id, **entry)]

            stored = self._keep_copy(
                user, out, raw, envelope_from, deliveries, sender_account.folder, queue_entry, limit
            )
        if reference and out.reference:  # the message it answers, once the answer is recorded
            self._flag_reference(user_id, out.reference)
        if sending:
            action = POINTS_ACTION.get((out.reference or {}).get("action", ""), "send")
            award_sending_points(self.system, user["username"], action)
        if out.draft and stored is not None:
            self._drop_draft(user_id, out.draft)
        return Submitted(stored, queue_id)

    def _compose(self, composition: Composition) -> bytes:
        try:
            return build_message(composition, domain=self.system.settings.email_domain)
        except (ValueError, TypeError) as error:
            raise Invalid("InputValidationError", f"Invalid message fields: {error}") from None

    def _keep_copy(
        self,
        user: dict[str, Any],
        out: Outgoing,
        raw: bytes,
        envelope_from: str,
        deliveries: list[dict[str, Any]],
        special_folder: str | None,
        companions: Callable[[str], Sequence[Any]],
        limit: Condition | None,
    ) -> Stored:
        """Keep the message in `out.mailbox`, else in the account's Sent or Drafts (`special_folder`), if
        `limit` still holds in the account's turn."""
        if out.mailbox:
            mailbox_id = out.mailbox
        else:
            if special_folder is None:
                raise NotFound("NoSuchMailbox", "This mailbox does not exist")
            mailbox_id = special_folder
        envelope: dict[str, Any] = {
            "from": envelope_from,
            "rcpt": [{"value": d["recipient"], "formatted": d["recipient"]} for d in deliveries],
        }
        if out.reference:
            envelope["reference"] = out.reference  # submitting the draft later flags the message it answers
        flags = ["\\Seen"] + (["\\Draft"] if out.is_draft else [])
        return self.store.store(
            user["id"],
            mailbox_id,
            raw,
            flags=flags,
            idate=self.system.mail.clock(),
            envelope=envelope,
            companions=companions,
            condition=limit,
        )

    def _drop_draft(self, user_id: str, draft: dict[str, Any]) -> None:
        try:
            row = self.store.message(user_id, draft["mailbox"], int(draft["id"]))
        except NotFound:
            return
        self.store.delete_messages(user_id, draft["mailbox"], [row], archive="\\Draft" not in row["flags"])

    # -- references ---------------------------------------------------------------------------

    def _reference(self, user: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        """What a reply or forward takes from the message it answers: subject, recipients, threading."""
        row = self.store.message(user["id"], reference["mailbox"], int(reference["id"]))
        parsed = parse_message(self.store.blob(row["blob"]))
        subject = parsed.subject.strip()
        if not re.match(r"^\w+: ", subject):
            subject = (("Fwd" if reference["action"] == "forward" else "Re") + ": " + subject).strip()
        unique: set[str] = set()

        def pick(people: list[dict[str, str]]) -> list[dict[str, str]]:
            picked = []
            for person in people:
                address = normalize_address(person.get("address") or "")
                if person.get("address") and address != user["address"] and address not in unique:
                    unique.add(address)
                    picked.append({"name": person.get("name") or "", "address": person["address"]})
            return picked

        sender = (parsed.reply_to or parsed.from_ or parsed.sender)[:1]
        reply_to = pick(sender)
        reply_cc: list[dict[str, str]] = []
        if reference["action"] == "replyAll":
            reply_to += pick(parsed.to)
            reply_cc = pick(parsed.cc)
        references = list(parsed.references)
        if parsed.message_id and parsed.message_id not in references:
            references.insert(0, parsed.message_id)
        return {
            "subject": subject,
            "replyTo": reply_to,
            "replyCc": reply_cc,
            "inReplyTo": parsed.message_id,
            "references": " ".join(references[:50]),
        }

    def _flag_reference(self, user_id: str, reference: dict[str, Any]) -> None:
        """`\\Answered` on a message replied to, `\\Answered` and `$Forwarded` on one forwarded."""
        wanted = REFERENCE_FLAGS.get(reference.get("action", ""), [])
        try:
            row = self.store.message(user_id, reference["mailbox"], int(reference["id"]))
        except NotFound:
            return
        if set(wanted) <= set(row["flags"]):
            return
        current = self.store.current(reference["mailbox"], [row])

        def changes() -> list[dict[str, Any]]:
            return [
                {"uid": r["uid"], "message": r["id"], "flags": sorted({*r["flags"], *wanted}), "previous": r["flags"]}
                for r in current()
                if not set(wanted) <= set(r["flags"])
            ]

        with current.first():
            self.system.mail.flag_messages(user_id, reference["mailbox"], changes)

    # -- POST .../messages/:message/submit -------------------------------------------------

    def submit_draft(self, user_id: str, mailbox_id: str, uid: int, send_time: datetime | None) -> dict[str, Any]:
        sender_account = self._sender(user_id, "\\Sent")
        user = sender_account.user
        row = self.store.message(user_id, mailbox_id, uid)
        if "\\Draft" not in row["flags"]:
            raise Invalid("MessageNotDraft", "This message is not a draft")
        now = self.system.mail.clock()
        send_time = max(send_time or now, now)
        summary = row["summary"] or {}
        stored_envelope = summary.get("envelope") or {}
        recipients = [r.get("value") for r in stored_envelope.get("rcpt") or [] if r.get("value")]
        if not recipients:
            recipients = [
                address
                for _, address in getaddresses(
                    [f"{p.get('name', '')} <{p['address']}>" for k in ("to", "cc", "bcc") for p in summary.get(k) or []]
                )
                if address
            ]
        deliveries = plain_deliveries(recipients)
        if not deliveries:
            return {"success": True}
        self._too_many(sender_account, len(deliveries))
        raw = with_date(self.store.blob(row["blob"]), send_time)
        from_ = (summary.get("from") or {}).get("address") or stored_envelope.get("from")
        envelope_from = self.allowed_from(user, from_)
        queue_id = self.queue.new_id()
        target = sender_account.folder or mailbox_id

        def queue_entry() -> list[QueuedMessage]:
            entry = self.queue.entry(
                queue_id,
                raw,
                user_id=user_id,
                parent_id=row["id"],
                reason="submit",
                envelope_from=envelope_from,
                deliveries=deliveries,
                send_time=send_time,
            )
            return [entry]

        # the draft turns into a sent message (seen, no longer a draft), moves to Sent and is queued in one
        # save, if it is still a draft then: a second request for the same draft (a double click, a retry)
        # finds it sent and is refused, instead of queueing it again
        moved = self.store.move_messages(
            user_id,
            mailbox_id,
            target,
            [row],
            keep=lambda current: "\\Draft" in current["flags"],
            reflag=partial(reflagged, flags={"seen": True, "draft": False}),
            companions=queue_entry,
            within=lambda tx: put_blob(tx, raw),
            condition=self._daily_limit(sender_account, len(deliveries)),
        )
        if not moved:  # sent, moved or deleted by another request meanwhile
            self.store.message(user_id, mailbox_id, uid)  # gone: not found
            raise Invalid("MessageNotDraft", "This message is not a draft")
        reference = stored_envelope.get("reference")
        if isinstance(reference, dict) and reference.get("mailbox") and reference.get("id"):
            self._flag_reference(user_id, reference)
        action = POINTS_ACTION.get((reference or {}).get("action", ""), "send")
        award_sending_points(self.system, user["username"], action)
        return {
            "success": True,
            "queueId": queue_id,
            "message": {"id": moved[0][1], "mailbox": target, "size": int(row["size"])},
        }

    # -- POST .../messages/:message/forward ------------------------------------------------

    def forward_stored(
        self, user_id: str, mailbox_id: str, uid: int, target: int | None, addresses: list[str]
    ) -> dict[str, Any]:
        row = self.store.message(user_id, mailbox_id, uid)
        targets = [{"type": "mail", "value": address} for address in addresses]
        known = self.forward_targets(row["id"])
        if known:
            if target:
                targets += known[target - 1 : target]
            elif not targets:
                targets = known
        if not targets:
            return {"success": True, "forwarded": []}
        envelope = (row["summary"] or {}).get("envelope") or {}
        original = (envelope.get("rcpt") or [{}])[0].get("value") or ""
        queue_id = self.queue.queue(
            self.store.blob(row["blob"]),
            user_id=user_id,
            parent_id=row["id"],
            reason="forward",
            envelope_from=envelope.get("from") or "",
            deliveries=forward_deliveries(targets, original),
        )
        return {
            "success": True,
            "queueId": queue_id,
            "forwarded": [
                {"seq": format(i + 1, "03x"), "type": t["type"], "value": t["value"]} for i, t in enumerate(targets)
            ],
        }

    def forward_targets(self, message_id: str) -> list[dict[str, str]]:
        with self.engine.connect() as conn:
            return outbound_model.forward_targets_of(conn, message_id)

    # -- DELETE /users/:user/outbound/:queueId -------------------------------------------------

    def delete_queued(self, user_id: str, queue_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            entries = outbound_model.queue_entries(conn, queue_id)
        if not entries:
            raise NotFound("NoSuchQueueEntry", "This queue entry does not exist", success=False)
        if entries[0]["user_id"] and entries[0]["user_id"] != user_id:
            raise Forbidden("NotEnoughPrivileges", "This queue entry belongs to another user", success=False)
        deleted = self.queue.commands.delete(queue_id)
        return {"success": True, "queueId": queue_id, "deleted": deleted}


def with_date(raw: bytes, moment: datetime) -> bytes:
    """The message with its Date header set to `moment` (a draft sent later is dated when it is sent)."""
    date = f"Date: {format_datetime(moment)}\r\n".encode()
    head, separator, body = raw.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = raw.partition(b"\n\n")
    head = _DATE_HEADER.sub(b"", head + b"\r\n")
    return date + head.rstrip(b"\r\n") + separator + body
