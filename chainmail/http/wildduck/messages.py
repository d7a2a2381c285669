"""WildDuck's message routes: upload, list, get, source, attachments, update (flags, move) and delete."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Any, Literal

import falcon
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import select

from chainmail.domain.bounds import SAFE_INTEGER_MAX
from chainmail.http.auth import require
from chainmail.http.bodies import read_body
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import (
    JoiBool,
    JoiDate,
    ObjectIdParam,
    WildDuckInput,
    WildDuckListing,
    joi,
    parse,
    text,
)
from chainmail.http.wildduck.fields import Email, MetaData, is_email, metadata_object
from chainmail.http.wire import js_iso
from chainmail.mail.mime import Composition, NewAttachment, build_message, parse_message, text_to_html
from chainmail.mail.store import MailStore, message_not_found
from chainmail.projections import messages as messages_model
from chainmail.projections.messages import LAST_UID, utc
from chainmail.projections.outbound import forward_targets_of, outbound_of_message
from chainmail.projections.userdata import stored_files
from chainmail.system import System

MAX_MESSAGE_SIZE = 64 * 1024 * 1024
RANGE = re.compile(r"^\d+(,\d+)*$|^\d+:(\d+|\*)$", re.I)


# -- input --------------------------------------------------------------------------------------


def _uid(value: Any) -> Any:
    if isinstance(value, bool):
        raise joi("must be a number")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise joi("must be a number") from None
    if number < 1:
        raise joi("must be greater than or equal to 1")
    if number > SAFE_INTEGER_MAX:  # as Joi refuses a number JavaScript cannot hold exactly
        raise joi("must be a safe number")
    return number


Uid = Annotated[int, BeforeValidator(_uid)]


def _range(value: Any) -> Any:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise joi("must be a string")
    text_value = str(value).strip()
    if not RANGE.match(text_value):
        raise joi(f'with value "{text_value}" fails to match the required pattern: /^\\d+(,\\d+)*$|^\\d+:(\\d+|\\*)$/i')
    return text_value


MessageRange = Annotated[str, BeforeValidator(_range)]


def _expires(value: Any) -> Any:
    if value in (False, "false"):
        return False
    return value


class Address(BaseModel):
    """WildDuck's `AddressOptionalName`: an email address, and a name if any."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=256)] = ""
    address: Email


def _failover(value: Any) -> Any:
    """WildDuck's `email().failover('')` on the To: addresses of an upload: one that is not an email address
    becomes '' (and is left out of the header) instead of refusing the upload."""
    return value.strip() if isinstance(value, str) and is_email(value.strip()) else ""


class Recipient(Address):
    address: Annotated[str, BeforeValidator(_failover)]


class Header(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, Field(min_length=1, max_length=255)]
    value: Annotated[str, Field(max_length=100 * 1024)] = ""


class UploadAttachment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: text(255) = None
    contentType: text(255) = None
    encoding: text(255) = "base64"
    contentTransferEncoding: text(255) = None
    contentDisposition: Literal["inline", "attachment"] | None = None
    cid: text(255) = None
    content: Annotated[str, Field(max_length=MAX_MESSAGE_SIZE * 2)]


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mailbox: ObjectIdParam
    id: Uid
    action: Literal["reply", "replyAll", "forward"]
    attachments: bool | list[str] | None = None


class ReplacePrevious(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mailbox: ObjectIdParam | None = None
    id: Uid


class Bimi(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: Annotated[str, Field(max_length=255)]
    selector: text(255) = None


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_: Address | None = Field(default=None, alias="from")
    to: list[Address] | None = None


class UploadMessage(WildDuckInput):
    user: ObjectIdParam
    mailbox: ObjectIdParam
    date: JoiDate = None
    unseen: JoiBool = False
    flagged: JoiBool = False
    draft: JoiBool = False
    raw: Annotated[str, Field(max_length=MAX_MESSAGE_SIZE * 4 // 3 + 4)] | None = None
    from_: Address | None = Field(default=None, alias="from")
    replyTo: Address | None = None
    to: list[Recipient] | None = None
    cc: list[Address] | None = None
    bcc: list[Address] | None = None
    headers: list[Header] | None = None
    subject: Annotated[str, Field(max_length=2 * 1024)] | None = None
    text: Annotated[str, Field(max_length=1024 * 1024)] | None = None
    html: Annotated[str, Field(max_length=1024 * 1024)] | None = None
    files: list[ObjectIdParam] | None = None
    attachments: list[UploadAttachment] | None = None
    metaData: MetaData | None = None
    reference: Reference | None = None
    replacePrevious: ReplacePrevious | None = None
    bimi: Bimi | None = None
    envelope: Envelope | None = None


class MessagePath(WildDuckInput):
    user: ObjectIdParam
    mailbox: ObjectIdParam
    message: Uid


class GetMessage(MessagePath):
    replaceCidLinks: JoiBool = False
    markAsSeen: JoiBool = False


class GetAttachment(MessagePath):
    attachment: Annotated[
        str, BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v), Field(pattern=r"^ATT\d+$")
    ]
    sendAsString: JoiBool = False


class UpdateFields(WildDuckInput):
    user: ObjectIdParam
    mailbox: ObjectIdParam
    message: MessageRange
    moveTo: ObjectIdParam | None = None
    seen: JoiBool = None
    deleted: JoiBool = None
    flagged: JoiBool = None
    draft: JoiBool = None
    expires: Annotated[JoiDate | Literal[False], BeforeValidator(_expires)] = None
    metaData: MetaData | None = None


class DeleteAll(WildDuckInput):
    user: ObjectIdParam
    mailbox: ObjectIdParam
    # WildDuck deletes in the background with `async`; here it is always done when the answer comes.
    async_: JoiBool = Field(default=False, alias="async")
    skipArchive: JoiBool = False


class ListMessages(WildDuckListing):
    user: ObjectIdParam
    mailbox: ObjectIdParam
    unseen: JoiBool = None
    metaData: JoiBool = False
    threadCounters: JoiBool = False
    order: Literal["asc", "desc"] = "desc"
    includeHeaders: str | bool | None = None


# -- views --------------------------------------------------------------------------------------


def header_names(value: str | bool | None) -> list[str]:
    if not value or value is True:
        return []
    return [h.strip().lower() for h in str(value).split(",") if h.strip()]


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):  # as the store gives it back: js_iso takes it to UTC itself
        return js_iso(value)
    moment = utc(value)
    return js_iso(moment) if moment else None


def listing_item(
    row: dict[str, Any],
    *,
    headers: list[str] = (),  # type: ignore[assignment]
    meta: bool = False,
    thread_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """`formatMessageListing`: one message in a listing, search result or archive."""
    s = row["summary"]
    item: dict[str, Any] = {"id": int(row["uid"]), "mailbox": row["mailbox_id"], "thread": row["thread"]}
    if thread_counts is not None:
        item["threadMessageCount"] = thread_counts.get(row["thread"], 1)
    item.update(
        {
            "from": s.get("from"),
            "to": s.get("to") or [],
            "cc": s.get("cc") or [],
            "bcc": s.get("bcc") or [],
            "messageId": row["msgid"],
            "subject": row["subject"],
            "date": _iso(row["hdate"]),
            "idate": _iso(row["idate"]),
            "intro": s.get("intro") or "",
            "attachments": bool(row["has_attachments"]),
            "attachmentsList": [_attachment(a) for a in s.get("attachmentsList") or []],
            "size": int(row["size"]),
            "seen": bool(row["seen"]),
            "deleted": bool(row["deleted"]),
            "flagged": bool(row["flagged"]),
            "draft": bool(row["draft"]),
            "answered": bool(row["answered"]),
            "forwarded": bool(row["forwarded"]),
            "references": s.get("references") or [],
            "contentType": s.get("contentType") or {"value": "text/plain"},
        }
    )
    if s.get("encrypted"):
        item["encrypted"] = True
    if meta and row.get("meta_data"):
        item["metaData"] = metadata_object(row["meta_data"])
    if headers:
        kept = s.get("headers") or {}
        item["headers"] = {h: kept[h] for h in headers if h in kept}
    return item


def _attachment(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "blob"}


def parse_range(value: str) -> tuple[list[int] | None, int | None, int | None]:
    """(uids, low, high) for `1,2,3`, `3:15` and `3:*` (high None = up to the last). A number past the last
    UID a folder can hold names no message: it leaves the list, and a range ends there."""
    if ":" in value:
        low, high = value.split(":")
        return None, min(int(low), LAST_UID), None if high == "*" else min(int(high), LAST_UID)
    return [uid for uid in map(int, value.split(",")) if uid <= LAST_UID], None, None


def _flags(params: Any) -> dict[str, bool]:
    return {
        k: bool(getattr(params, k)) for k in ("seen", "deleted", "flagged", "draft") if getattr(params, k) is not None
    }


# -- resources -------------------------------------------------------------------------------------


class MessagesResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str, mailbox: str) -> None:
        params = parse(ListMessages, req.context.params)
        require(req.context.principal, "read", "messages", params.user)
        after, before, number = page_request(params.next, params.previous, sorted_by_id=False, value_type=datetime)
        listing = messages_model.Listing(params.unseen, int(params.limit), after, before, params.order == "asc")
        folder, page = self.store.folder_listing(params.user, params.mailbox, listing)
        # The folder's counters answer `total` without counting a big mailbox row by row.
        if params.unseen is None:
            total = int(folder["total"])
        else:
            total = int(folder["unseen"]) if params.unseen else int(folder["total"]) - int(folder["unseen"])
        rows = page.rows
        counts = None
        if params.threadCounters:
            with self.system.engine.connect() as conn:
                counts = messages_model.thread_counts(conn, params.user, [r["thread"] for r in rows])
        headers = header_names(params.includeHeaders)
        answer: dict[str, Any] = {"success": True, "total": total, **page_fields(page, number, sorted_by_id=False)}
        if folder["special_use"]:  # WildDuck leaves the key out for ordinary folders
            answer["specialUse"] = folder["special_use"]
        answer["results"] = [
            listing_item(r, headers=headers, meta=params.metaData is True, thread_counts=counts) for r in rows
        ]
        resp.media = answer

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str, mailbox: str) -> None:
        params_in = dict(req.context.params)
        raw: bytes | None = None
        media_type = (req.content_type or "").split(";")[0].strip().lower()
        if media_type == "message/rfc822":
            raw = read_body(req, MAX_MESSAGE_SIZE)
            if raw is None:
                raise WildDuckError(400, "InputValidationError", '"raw" must be less than or equal to 67108864 bytes')
        params = parse(UploadMessage, params_in)
        require(req.context.principal, "create", "messages", params.user)
        if raw is None and params.raw is not None:
            raw = _decode_base64(params.raw, "raw")
        if raw is None:
            raw = self._compose(params)
        flags = []
        if not params.unseen:
            flags.append("\\Seen")
        if params.flagged:
            flags.append("\\Flagged")
        if params.draft or params.reference is not None:
            flags.append("\\Draft")
        envelope = None
        if params.envelope is not None:
            envelope = {
                "from": params.envelope.from_.address if params.envelope.from_ else "",
                "rcpt": [{"value": a.address, "formatted": a.address} for a in params.envelope.to or []],
            }
        stored = self.store.store(
            params.user,
            params.mailbox,
            raw,
            flags=flags,
            idate=params.date or self.system.mail.clock(),
            meta_data=params.metaData,
            envelope=envelope,
            encrypt=not params.draft,
        )
        answer: dict[str, Any] = {
            "success": True,
            "message": {"id": stored.uid, "mailbox": stored.mailbox, "size": stored.size},
        }
        if params.replacePrevious is not None:
            answer.update(self._replace_previous(params, stored))
        resp.media = answer

    def _replace_previous(self, params: UploadMessage, stored: Any) -> dict[str, Any]:
        assert params.replacePrevious is not None
        mailbox_id = params.replacePrevious.mailbox or params.mailbox
        try:
            previous = self.store.message(params.user, mailbox_id, params.replacePrevious.id)
            self.store.delete_messages(params.user, mailbox_id, [previous])
        except Exception as error:
            return {"previousDeleted": False, "previousDeleteError": str(error)}
        return {"previousDeleted": True}

    def _compose(self, params: UploadMessage) -> bytes:
        from_ = params.from_.model_dump() if params.from_ else None
        if from_ is None:
            user = self.store.user(params.user)
            from_ = {"name": user["name"] or "", "address": user["address"]}
        attachments = []
        for index, a in enumerate(params.attachments or []):
            content = (
                _decode_base64(a.content, f"attachments[{index}].content")
                if (a.encoding or "base64") == "base64"
                else a.content.encode()
            )
            attachments.append(NewAttachment(content, a.filename, a.contentType, a.cid, a.contentDisposition))
        attachments += self._stored_files(params.user, params.files or [])
        composition = Composition(
            from_=from_,
            reply_to=params.replyTo.model_dump() if params.replyTo else None,
            to=[a.model_dump() for a in params.to or [] if a.address],
            cc=[a.model_dump() for a in params.cc or []],
            bcc=[a.model_dump() for a in params.bcc or []],
            subject=params.subject,
            text=params.text,
            html=params.html,
            headers=[(h.key, h.value) for h in params.headers or []],
            attachments=attachments,
            date=params.date,
        )
        try:
            return build_message(composition, domain=self.system.settings.email_domain)
        except (ValueError, TypeError) as error:
            raise WildDuckError(400, "InputValidationError", f"Invalid message fields: {error}") from None

    def _stored_files(self, user_id: str, file_ids: list[str]) -> list[NewAttachment]:
        """Files from the user's storage, attached as they were uploaded."""
        found = []
        with self.system.engine.connect() as conn:
            for file_id in file_ids:
                row = conn.execute(
                    select(stored_files).where(stored_files.c.id == file_id, stored_files.c.user_id == user_id)
                ).first()
                if row is None:
                    raise WildDuckError(404, "FileNotFound", "Attachment file was not found")
                found.append(row)
        return [
            NewAttachment(self.store.blob(r.sha256), r.filename or None, r.content_type, r.cid, None) for r in found
        ]

    def on_put(self, req: falcon.Request, resp: falcon.Response, user: str, mailbox: str) -> None:
        update_messages(self.store, req, resp)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str, mailbox: str) -> None:
        params = parse(DeleteAll, req.context.params)
        require(req.context.principal, "delete", "messages", params.user)
        deleted = self.store.delete_range(params.user, params.mailbox, None, None, None, archive=not params.skipArchive)
        resp.media = {"success": True, "deleted": deleted, "errors": 0}


def _decode_base64(value: str, field: str) -> bytes:
    compact = re.sub(r"\s+", "", value)
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        message = f'"{field}" must be a valid base64 string'
        raise WildDuckError(400, "InputValidationError", message, details={field: message}) from None
    if len(data) > MAX_MESSAGE_SIZE:
        raise WildDuckError(400, "InputValidationError", f'"{field}" must be less than or equal to 67108864 bytes')
    return data


def update_messages(store: MailStore, req: falcon.Request, resp: falcon.Response) -> None:
    params = parse(UpdateFields, req.context.params)
    require(req.context.principal, "update", "messages", params.user)
    flags = _flags(params)
    if flags and params.moveTo is None and params.metaData is None and params.expires is None:
        updated = store.flag_range(params.user, params.mailbox, *parse_range(params.message), flags)
        resp.media = {"success": True, "updated": updated}
        return
    rows = store.folder_messages(params.user, params.mailbox, *parse_range(params.message))
    resp.media = store.update_messages(
        params.user,
        params.mailbox,
        rows,
        flags=flags,
        meta_data=params.metaData,
        expires=params.expires,
        move_to=params.moveTo,
    )


class MessageResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        params = parse(GetMessage, req.context.params)
        require(req.context.principal, "read", "messages", params.user)
        row = self.store.message(params.user, params.mailbox, params.message)
        if params.markAsSeen and not row["seen"]:
            self.store.update_messages(params.user, params.mailbox, [row], flags={"seen": True})
            row = self.store.message(params.user, params.mailbox, params.message)
        parsed = parse_message(self.store.blob(row["blob"]))
        s = row["summary"]
        html, plain = parsed.html, parsed.text
        if params.replaceCidLinks:
            base = (
                f"{self.system.settings.api_prefix}/users/{params.user}/mailboxes/{params.mailbox}"
                f"/messages/{params.message}/attachments/"
            )
            html = [re.sub(r"attachment:(ATT\d+)", lambda m: base + m.group(1), h) for h in html]
            plain = re.sub(r"attachment:(ATT\d+)", lambda m: base + m.group(1), plain)
        envelope = s.get("envelope") or {}
        body: dict[str, Any] = {
            "success": True,
            "id": int(row["uid"]),
            "mailbox": row["mailbox_id"],
            "user": row["user_id"],
            "envelope": {"from": envelope.get("from", ""), "rcpt": envelope.get("rcpt", [])},
            "thread": row["thread"],
            "from": s.get("from"),
        }
        for key in ("replyTo", "to", "cc", "bcc"):
            if s.get(key):
                body[key] = s[key]
        body.update(
            {
                "subject": row["subject"],
                "messageId": row["msgid"],
                "date": _iso(row["hdate"]),
                "idate": _iso(row["idate"]),
            }
        )
        if s.get("list"):
            body["list"] = s["list"]
        if row["expires"] is not None:
            body["expires"] = _iso(row["expires"])
        body.update(
            {
                "size": int(row["size"]),
                "seen": bool(row["seen"]),
                "deleted": bool(row["deleted"]),
                "flagged": bool(row["flagged"]),
                "draft": bool(row["draft"]),
                "answered": bool(row["answered"]),
                "forwarded": bool(row["forwarded"]),
                "html": html or ([text_to_html(plain)] if plain else []),
                "text": plain,
                "attachments": [_attachment(a) for a in s.get("attachmentsList") or []],
                "references": s.get("references") or [],
                "metaData": metadata_object(row["meta_data"]),
                "contentType": s.get("contentType") or {"value": "text/plain"},
            }
        )
        if s.get("encrypted"):
            body["encrypted"] = True
            if not body.get("html"):
                body.pop("html", None)  # WildDuck has no html of an encrypted message (undefined, not [])
        with self.system.engine.connect() as conn:
            outbound = outbound_of_message(conn, row["id"])
            forward_targets = forward_targets_of(conn, row["id"])
        if outbound:  # only for messages that were sent or forwarded
            body["outbound"] = outbound
        if forward_targets:
            body["forwardTargets"] = forward_targets
        resp.media = body

    def on_put(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        update_messages(self.store, req, resp)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        params = parse(MessagePath, req.context.params)
        require(req.context.principal, "delete", "messages", params.user)
        # the folder checked and the message read in the account's turn: a message gone is not found
        if not self.store.delete_range(params.user, params.mailbox, [params.message], None, None):
            raise message_not_found()
        resp.media = {"success": True}


class MessageSourceResource:
    def __init__(self, system: System) -> None:
        self.store = MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        params = parse(MessagePath, req.context.params)
        require(req.context.principal, "read", "messages", params.user)
        row = self.store.message(params.user, params.mailbox, params.message)
        resp.content_type = "message/rfc822"
        resp.data = self.store.blob(row["blob"])


class AttachmentResource:
    def __init__(self, system: System) -> None:
        self.store = MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        params = parse(GetAttachment, req.context.params)
        require(req.context.principal, "read", "attachments", params.user)
        row = self.store.message(params.user, params.mailbox, params.message)
        stored = (row["summary"].get("stored") or {}).get(params.attachment)
        if stored is None:
            raise WildDuckError(404, "AttachmentNotFound", "This attachment does not exist")
        entry = next((a for a in row["summary"].get("attachmentsList") or [] if a["id"] == params.attachment), None)
        content = self.store.blob(stored)
        if params.sendAsString:
            resp.content_type = "text/plain; charset=utf-8"
            resp.text = content.decode("utf-8", errors="replace")
            return
        resp.content_type = (entry or {}).get("contentType") or "application/octet-stream"
        resp.data = content


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/mailboxes/{mailbox}/messages", MessagesResource(system))
    api.add("/users/{user}/mailboxes/{mailbox}/messages/{message}", MessageResource(system))
    api.add("/users/{user}/mailboxes/{mailbox}/messages/{message}/message.eml", MessageSourceResource(system))
    api.add("/users/{user}/mailboxes/{mailbox}/messages/{message}/attachments/{attachment}", AttachmentResource(system))
