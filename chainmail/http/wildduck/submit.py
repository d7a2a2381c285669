"""WildDuck's sending routes: `POST /users/:user/submit`, submitting a stored draft, forwarding a stored
message, and deleting a message from the outbound queue."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import falcon
from pydantic import BaseModel, ConfigDict, Field

from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.idx.signature import identity_of
from chainmail.http.router import Router
from chainmail.http.validation import JoiBool, JoiDate, ObjectIdParam, WildDuckInput, WildDuckListing, parse
from chainmail.http.validation import text as optional_text
from chainmail.http.wildduck.fields import Email, MetaData
from chainmail.http.wildduck.messages import MessagePath, Uid, UploadAttachment, _decode_base64
from chainmail.mail.mime import NewAttachment
from chainmail.mail.submission import Outgoing, Submission
from chainmail.system import System

# Joi's `allowUnknown` on submit reaches nested objects too: unknown keys anywhere are ignored.
IGNORE_UNKNOWN = ConfigDict(extra="ignore")


class SubmitAttachment(UploadAttachment):
    model_config = IGNORE_UNKNOWN


class Person(BaseModel):
    """WildDuck's `AddressOptionalName`."""

    model_config = IGNORE_UNKNOWN

    name: optional_text(255) = None
    address: Email

    def plain(self) -> dict[str, str]:
        return {"name": self.name or "", "address": self.address}


class Header(BaseModel):
    model_config = IGNORE_UNKNOWN

    key: Annotated[str, Field(min_length=1, max_length=255)]
    value: Annotated[str, Field(max_length=100 * 1024)] = ""


class Reference(BaseModel):
    model_config = IGNORE_UNKNOWN

    mailbox: ObjectIdParam
    id: Uid
    action: Literal["reply", "replyAll", "forward"]


class DraftRef(BaseModel):
    model_config = IGNORE_UNKNOWN

    mailbox: ObjectIdParam
    id: Uid


class SubmitEnvelope(BaseModel):
    model_config = IGNORE_UNKNOWN

    from_: Person | None = Field(default=None, alias="from")
    to: list[Person] | None = None


class IndexerSignature(BaseModel):
    """The chainmail fork's `indexer: {message, signature}`: a submission signed by the indexer's wallet."""

    model_config = IGNORE_UNKNOWN

    message: Annotated[str, Field(min_length=1, max_length=8192)]
    signature: Annotated[str, Field(min_length=1, max_length=512)]


class SubmitMessage(WildDuckListing):
    """WildDuck validates submit with `allowUnknown`: unknown keys are ignored, known ones checked."""

    user: ObjectIdParam
    mailbox: ObjectIdParam | None = None
    from_: Person | None = Field(default=None, alias="from")
    replyTo: Person | None = None
    to: list[Person] | None = None
    cc: list[Person] | None = None
    bcc: list[Person] | None = None
    headers: list[Header] | None = None
    subject: optional_text(2 * 1024) = None
    text: optional_text(1024 * 1024) = None
    html: optional_text(1024 * 1024) = None
    attachments: list[SubmitAttachment] | None = None
    meta: MetaData | None = None
    reference: Reference | None = None
    isDraft: JoiBool = False
    draft: DraftRef | None = None
    sendTime: JoiDate = None
    uploadOnly: JoiBool = False
    envelope: SubmitEnvelope | None = None
    indexer: IndexerSignature | None = None


class SubmitDraft(MessagePath):
    deleteFiles: JoiBool = None
    sendTime: JoiDate = None


class ForwardStored(MessagePath):
    target: Annotated[int, Field(ge=1, le=1000)] | None = None
    addresses: list[Email] | None = None


class DeleteOutbound(WildDuckInput):
    user: ObjectIdParam
    queueId: Annotated[str, Field(min_length=18, max_length=24, pattern=r"^[0-9a-fA-F]+$")]


def _attachments(params: SubmitMessage) -> list[NewAttachment]:
    found = []
    for index, a in enumerate(params.attachments or []):
        encoding = (a.encoding or "base64").lower()
        content = (
            _decode_base64(a.content, f"attachments[{index}].content") if encoding == "base64" else a.content.encode()
        )
        found.append(NewAttachment(content, a.filename, a.contentType, a.cid, a.contentDisposition))
    return found


def outgoing(params: SubmitMessage) -> Outgoing:
    return Outgoing(
        mailbox=params.mailbox,
        reference=params.reference.model_dump() if params.reference else None,
        draft=params.draft.model_dump() if params.draft else None,
        is_draft=bool(params.isDraft),
        upload_only=bool(params.uploadOnly),
        send_time=params.sendTime,
        envelope_from=params.envelope.from_.plain() if params.envelope and params.envelope.from_ else None,
        envelope_to=[p.plain() for p in params.envelope.to or []] if params.envelope else None,
        from_=params.from_.plain() if params.from_ else None,
        reply_to=params.replyTo.plain() if params.replyTo else None,
        to=[p.plain() for p in params.to] if params.to is not None else None,
        cc=[p.plain() for p in params.cc] if params.cc is not None else None,
        bcc=[p.plain() for p in params.bcc] if params.bcc is not None else None,
        headers=[(h.key, h.value) for h in params.headers or []],
        subject=params.subject,
        text=params.text,
        html=params.html,
        attachments=_attachments(params),
    )


class SubmitResource:
    def __init__(self, system: System) -> None:
        self.system, self.submission = system, Submission(system)

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(SubmitMessage, req.context.params)
        if params.indexer is not None:
            # Signed by the indexer's own wallet: delivery of on-chain mail, allowed whatever the token's role.
            # The signed text must name the recipient account (indexer.md §6.3), so it opens no other mailbox.
            signed = identity_of(self.system).is_indexer_signed(params.indexer.message, params.indexer.signature)
            if not signed or not self._names_recipient(params.user, params.indexer.message):
                raise WildDuckError(403, "IndexerAuthFailed", "Indexer signature verification failed")
        else:
            require(req.context.principal, "create", "messages", params.user)
        submitted = self.submission.submit(params.user, outgoing(params))
        stored = submitted.stored
        message: dict[str, Any] = {
            "id": stored.uid if stored else False,
            "mailbox": stored.mailbox if stored else False,
            "size": stored.size if stored else 0,
            "queueId": submitted.queue_id or False,
        }
        if stored is None:
            message["overQuota"] = True
        resp.media = {"success": True, "message": message}

    def _names_recipient(self, user_id: str, message: str) -> bool:
        user = self.submission.store.user(user_id)
        text = message.lower()
        return any(name and name.lower() in text for name in (user["username"], user["address"]))


class SubmitDraftResource:
    def __init__(self, system: System) -> None:
        self.submission = Submission(system)

    def on_post(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        params = parse(SubmitDraft, req.context.params)
        require(req.context.principal, "create", "messages", params.user)
        resp.media = self.submission.submit_draft(params.user, params.mailbox, params.message, params.sendTime)


class ForwardResource:
    def __init__(self, system: System) -> None:
        self.submission = Submission(system)

    def on_post(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        params = parse(ForwardStored, req.context.params)
        require(req.context.principal, "create", "messages", params.user)
        resp.media = self.submission.forward_stored(
            params.user, params.mailbox, params.message, params.target, list(params.addresses or [])
        )


class OutboundResource:
    def __init__(self, system: System) -> None:
        self.submission = Submission(system)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        params = parse(DeleteOutbound, req.context.params)
        require(req.context.principal, "delete", "messages", params.user)
        resp.media = self.submission.delete_queued(params.user, params.queueId.lower())


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/submit", SubmitResource(system))
    api.add("/users/{user}/mailboxes/{mailbox}/messages/{message}/submit", SubmitDraftResource(system))
    api.add("/users/{user}/mailboxes/{mailbox}/messages/{message}/forward", ForwardResource(system))
    api.add("/users/{user}/outbound/{queueId}", OutboundResource(system))
