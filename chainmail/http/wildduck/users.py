"""WildDuck's user routes: create, get, resolve, list and delete accounts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import falcon
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from chainmail.domain.mail.application import NewUser
from chainmail.domain.mail.limits import DEFAULTS, IMAP_MAX_CONNECTIONS, POP3_MAX_MESSAGES, RECEIVED_PER_MINUTE
from chainmail.domain.mail.names import username_view
from chainmail.http.auth import listing_scope, require
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import (
    JoiBool,
    JoiDate,
    Number,
    ObjectIdParam,
    WildDuckInput,
    WildDuckListing,
    joi,
    parse,
    plain_text,
    text,
)
from chainmail.http.wildduck import accounts
from chainmail.http.wildduck.fields import (
    Email,
    MailboxPath,
    MetaData,
    NonNegative,
    PgpKey,
    Scope,
    Tag,
    Target,
    Username,
    metadata_object,
    password_or_false,
    smtp_url,
    tag_list,
)
from chainmail.http.wildduck.pwned import refuse_pwned
from chainmail.projections import settings as settings_model
from chainmail.projections import users as users_model
from chainmail.system import System


class MailboxNames(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sent: MailboxPath = None
    trash: MailboxPath = None
    junk: MailboxPath = None
    drafts: MailboxPath = None


class FeatureFlags(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indexing: JoiBool = False


class CreateUser(WildDuckInput):
    username: Username
    password: Annotated[str, BeforeValidator(password_or_false)]
    hashedPassword: JoiBool = False
    allowUnsafe: JoiBool = True
    address: Email | None = None
    emptyAddress: JoiBool = False
    language: text(20) = None
    retention: NonNegative = 0
    name: plain_text(256) = None
    targets: list[Target] | None = None
    mtaRelay: Annotated[str | None, BeforeValidator(smtp_url)] = None
    spamLevel: Annotated[Number, Field(ge=0, le=100)] = 50
    quota: NonNegative = 0
    recipients: NonNegative = 0
    forwards: NonNegative = 0
    filters: NonNegative = 0
    requirePasswordChange: JoiBool = False
    imapMaxUpload: NonNegative = 0
    imapMaxDownload: NonNegative = 0
    pop3MaxDownload: NonNegative = 0
    pop3MaxMessages: NonNegative = 0
    imapMaxConnections: NonNegative = 0
    receivedMax: NonNegative = 0
    fromWhitelist: list[Tag] | None = None
    tags: list[Tag] | None = None
    addTagsToAddress: JoiBool = False
    uploadSentMessages: JoiBool = False
    mailboxes: MailboxNames | None = None
    disabledScopes: list[Scope] = []
    metaData: MetaData | None = None
    internalData: MetaData | None = None
    pubKey: PgpKey = None
    encryptMessages: JoiBool = False
    encryptForwarded: JoiBool = False
    featureFlags: FeatureFlags | None = None

    @field_validator("disabledScopes")
    @classmethod
    def _unique_scopes(cls, scopes: list[str]) -> list[str]:
        for index, scope in enumerate(scopes):
            if scope in scopes[:index]:
                raise joi(f"contains a duplicate value at position {index}")
        return scopes


class UserPath(WildDuckInput):
    user: ObjectIdParam


class ResolveUser(WildDuckInput):
    username: Username


class DeleteUser(WildDuckInput):
    user: ObjectIdParam
    deleteAfter: Annotated[JoiDate, BeforeValidator(lambda v: None if v in (False, "false") else v)] = None


class ListUsers(WildDuckListing):
    query: text(255) = None
    forward: text(255) = None
    tags: text(1024) = None
    requiredTags: text(1024) = None
    metaData: JoiBool = None
    internalData: JoiBool = None


def _unique_tags(tags: list[str] | None) -> list[str]:
    """Trimmed, case-insensitively unique, sorted case-insensitively (WildDuck stores them so)."""
    seen: dict[str, str] = {}
    for tag in tags or []:
        if tag and tag.lower() not in seen:
            seen[tag.lower()] = tag
    return sorted(seen.values(), key=str.lower)


def _new_user(body: CreateUser) -> NewUser:
    mailboxes = {}
    if body.mailboxes is not None:
        seen = {"INBOX"}
        for key in ("sent", "trash", "junk", "drafts"):
            path = getattr(body.mailboxes, key)
            if not path:
                continue
            path = path.strip().strip("/")
            if path.upper() == "INBOX":
                path = "INBOX"
            if path in seen:
                raise WildDuckError(400, "InputValidationError", f"Duplicate mailbox name: {path}")
            seen.add(path)
            mailboxes["\\" + key.capitalize()] = path
    tags = _unique_tags(body.tags)
    profile: dict[str, Any] = {
        "spamLevel": body.spamLevel,
        "quota": body.quota,
        "recipients": body.recipients,
        "forwards": body.forwards,
        "filters": body.filters,
        "requirePasswordChange": body.requirePasswordChange is True,
        "imapMaxUpload": body.imapMaxUpload,
        "imapMaxDownload": body.imapMaxDownload,
        "pop3MaxDownload": body.pop3MaxDownload,
        "pop3MaxMessages": body.pop3MaxMessages,
        "imapMaxConnections": body.imapMaxConnections,
        "receivedMax": body.receivedMax,
        "uploadSentMessages": body.uploadSentMessages is True,
        "disabledScopes": sorted(set(body.disabledScopes)),
        "encryptMessages": body.encryptMessages is True,
        "encryptForwarded": body.encryptForwarded is True,
        "featureFlags": {"indexing": body.featureFlags.indexing is True} if body.featureFlags else {},
        "fromWhitelist": list(dict.fromkeys(a.strip().lower() for a in body.fromWhitelist or [])),
    }
    for key in ("mtaRelay", "metaData", "internalData", "pubKey"):
        value = getattr(body, key)
        if value is not None:
            profile[key] = value
    return NewUser(
        username=body.username,
        password=body.password or None,
        hashed_password=body.hashedPassword is True,
        address=body.address,
        empty_address=body.emptyAddress is True,
        name=body.name or "",
        language=body.language,
        retention=int(body.retention),
        tags=tags,
        add_tags_to_address=body.addTagsToAddress is True,
        mailboxes=mailboxes,
        targets=list(body.targets or []),
        profile=profile,
    )


def _quota(row: dict[str, Any], defaults: Mapping[str, Any] = DEFAULTS) -> dict[str, int]:
    profile = row["profile"]
    return {
        "allowed": int(profile.get("quota") or defaults["const:max:storage"]),
        "used": max(int(row["storage_used"] or 0), 0),
    }


def _counter(allowed: int) -> dict[str, Any]:
    # Rate counters (sent, forwarded, received, IMAP/POP3 traffic) are kept by the delivery side;
    # until it has counted anything the window is inactive, which WildDuck reports as ttl false.
    return {"allowed": allowed, "used": 0, "ttl": False}


def user_view(row: dict[str, Any], filters_used: int = 0, defaults: Mapping[str, Any] = DEFAULTS) -> dict[str, Any]:
    """`GET /users/:user` as WildDuck answers it."""
    p = row["profile"]
    view: dict[str, Any] = {
        "success": True,
        "id": row["id"],
        "username": row["username"],
        "name": row["name"] or "",
        "address": row["address"],
        "language": p.get("language"),
        "retention": p.get("retention") or False,
        "enabled2fa": list(p.get("enabled2fa", [])),
        "autoreply": bool(p.get("autoreply")),
        "encryptMessages": bool(p.get("encryptMessages")),
        "encryptForwarded": bool(p.get("encryptForwarded")),
        "pubKey": p.get("pubKey"),
        "spamLevel": p.get("spamLevel", 50),
        "metaData": metadata_object(p.get("metaData")),
        "internalData": metadata_object(p.get("internalData")),
        "targets": [t["value"] for t in p.get("targets", []) if t.get("value")],
        "mtaRelay": p.get("mtaRelay"),
        "limits": {
            "quota": _quota(row, defaults),
            "recipients": _counter(int(p.get("recipients") or defaults["const:max:recipients"])),
            "forwards": _counter(int(p.get("forwards") or defaults["const:max:forwards"])),
            "received": _counter(int(p.get("receivedMax") or RECEIVED_PER_MINUTE)),
            "filters": {"allowed": int(p.get("filters") or defaults["const:max:filters"]), "used": filters_used},
            "imapUpload": _counter(int(p.get("imapMaxUpload") or defaults["const:max:imap:upload"])),
            "imapDownload": _counter(int(p.get("imapMaxDownload") or defaults["const:max:imap:download"])),
            "pop3Download": _counter(int(p.get("pop3MaxDownload") or defaults["const:max:pop3:download"])),
            "pop3MaxMessages": {"allowed": int(p.get("pop3MaxMessages") or POP3_MAX_MESSAGES)},
            "imapMaxConnections": {"allowed": int(p.get("imapMaxConnections") or IMAP_MAX_CONNECTIONS), "used": 0},
        },
        "tags": list(row["tags"] or []),
        "fromWhitelist": list(p.get("fromWhitelist", [])),
        "featureFlags": dict(p.get("featureFlags", {})),
        "disabledScopes": list(p.get("disabledScopes", [])),
        "hasPasswordSet": bool(row["password_hash"]),
        "activated": bool(row["activated"]),
        "disabled": bool(row["disabled"]),
        "suspended": bool(row["suspended"]),
    }
    # WildDuck leaves unset values out of the JSON rather than sending null.
    return {k: v for k, v in view.items() if v is not None}


def listing_item(row: dict[str, Any], *, meta: bool, internal: bool) -> dict[str, Any]:
    p = row["profile"]
    item: dict[str, Any] = {
        "id": row["id"],
        "username": row["username"],
        "name": row["name"] or "",
        "address": row["address"],
        "tags": list(row["tags"] or []),
        "targets": [t["value"] for t in p.get("targets", []) if t.get("value")],
        "enabled2fa": list(p.get("enabled2fa", [])),
        "autoreply": bool(p.get("autoreply")),
        "encryptMessages": bool(p.get("encryptMessages")),
        "encryptForwarded": bool(p.get("encryptForwarded")),
        "quota": _quota(row),
        "hasPasswordSet": bool(row["password_hash"]),
        "activated": bool(row["activated"]),
        "disabled": bool(row["disabled"]),
        "suspended": bool(row["suspended"]),
    }
    if meta and p.get("metaData"):
        item["metaData"] = metadata_object(p["metaData"])
    if internal and p.get("internalData"):
        item["internalData"] = metadata_object(p["internalData"])
    return {k: v for k, v in item.items() if v is not None}


class UsersResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = parse(ListUsers, req.context.params)
        grant, only_user = listing_scope(req.context.principal, "userlisting")
        filters = users_model.UserFilter(
            query=params.query.lower() if params.query else None,
            forward=params.forward.lower() if params.forward else None,
            required_tags=tag_list(params.requiredTags),
            tags=tuple(t for t in tag_list(params.tags) if t not in tag_list(params.requiredTags)),
            only_user=only_user,
        )
        after, before, page_number = page_request(params.next, params.previous)
        with self.system.engine.connect() as conn:
            total = users_model.count_users(conn, filters)
            page = users_model.list_users(conn, filters, limit=int(params.limit), after=after, before=before)
        results = [
            grant.filter(
                listing_item(dict(row._mapping), meta=params.metaData is True, internal=params.internalData is True)
            )
            for row in page.rows
        ]
        resp.media = {
            "success": True,
            "query": params.query or "",
            "total": total,
            **page_fields(page, page_number),
            "results": results,
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(CreateUser, req.context.params)
        settings = self.system.settings
        refuse_pwned(  # before the privilege check, as WildDuck
            settings.pwned_passwords_url,
            body.password,
            hashed=body.hashedPassword is True,
            allow_unsafe=body.allowUnsafe is not False,
            timeout=settings.pwned_passwords_timeout,
        )
        require(req.context.principal, "create", "users")
        user_id = self.system.mail.create_user(_new_user(body))
        resp.media = {"success": True, "id": user_id}


class UserResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(UserPath, req.context.params)
        grant = require(req.context.principal, "read", "users", owner=params.user)
        with self.system.engine.connect() as conn:
            row, custom = users_model.get_user_and_settings(conn, params.user)
        if row is None:
            raise WildDuckError(404, "UserNotFound", "This user does not exist")
        resp.media = grant.filter(user_view(row, defaults=settings_model.defaults_over(custom, DEFAULTS)))

    def on_put(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        accounts.update_user(self.system, req, resp)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(DeleteUser, req.context.params)
        require(req.context.principal, "delete", "users")
        deletion = self.system.mail.delete_user(params.user, params.deleteAfter)
        resp.media = {
            "success": True,
            "code": "TaskScheduled",
            "user": deletion.user,
            "addresses": {"deleted": deletion.addresses_deleted},
            "deleteAfter": deletion.delete_after,
            "task": deletion.task,
        }


class ResolveUserResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, username: str) -> None:
        params = parse(ResolveUser, req.context.params)
        require(req.context.principal, "read", "users")
        with self.system.engine.connect() as conn:
            user_id = users_model.resolve_username(conn, username_view(params.username))
        if user_id is None:
            raise WildDuckError(404, "UserNotFound", "This user does not exist")
        resp.media = {"success": True, "id": user_id}


def add_routes(api: Router, system: System) -> None:
    api.add("/users", UsersResource(system))
    api.add("/users/resolve/{username}", ResolveUserResource(system))
    api.add("/users/{user}", UserResource(system))
