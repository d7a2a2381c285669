"""WildDuck's account maintenance routes: update, logout, password reset, quota recalculation."""

from __future__ import annotations

from typing import Annotated, Any

import falcon
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from chainmail.domain.mail.accounts import AuthMeta, PasswordChange, UserChanges
from chainmail.domain.mail.names import normalize_address
from chainmail.http.auth import Principal, require
from chainmail.http.errors import WildDuckError
from chainmail.http.router import Router
from chainmail.http.validation import (
    JoiBool,
    JoiDate,
    Number,
    ObjectIdParam,
    WildDuckInput,
    joi,
    parse,
    plain_text,
    text,
)
from chainmail.http.wildduck.fields import (
    MetaData,
    NonNegative,
    PgpKey,
    Scope,
    Tag,
    Target,
    password_or_false,
    smtp_url,
)
from chainmail.http.wildduck.pwned import refuse_pwned
from chainmail.mail.housekeeping import Housekeeping
from chainmail.projections import account_archive
from chainmail.projections import messages as messages_model
from chainmail.system import System


def _existing_password(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    if value == "":
        raise joi("is not allowed to be empty")
    if len(value) > 256:
        raise joi("length must be less than or equal to 256 characters long")
    return value


class FeatureFlags(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indexing: JoiBool = False


class UpdateUser(WildDuckInput):
    user: ObjectIdParam
    existingPassword: Annotated[str | None, BeforeValidator(_existing_password)] = None
    password: Annotated[str | None, BeforeValidator(password_or_false)] = None
    hashedPassword: JoiBool = False
    allowUnsafe: JoiBool = True
    language: text(20) = None
    name: plain_text(256) = None
    targets: list[Target] | None = None
    mtaRelay: Annotated[str | None, BeforeValidator(smtp_url)] = None
    spamLevel: Annotated[Number, Field(ge=0, le=100)] | None = None
    uploadSentMessages: JoiBool = None
    fromWhitelist: list[Tag] | None = None
    metaData: MetaData | None = None
    internalData: MetaData | None = None
    pubKey: PgpKey = None
    encryptMessages: JoiBool = None
    encryptForwarded: JoiBool = None
    retention: NonNegative | None = None
    quota: NonNegative | None = None
    recipients: NonNegative | None = None
    forwards: NonNegative | None = None
    filters: NonNegative | None = None
    imapMaxUpload: NonNegative | None = None
    imapMaxDownload: NonNegative | None = None
    pop3MaxDownload: NonNegative | None = None
    pop3MaxMessages: NonNegative | None = None
    imapMaxConnections: NonNegative | None = None
    receivedMax: NonNegative | None = None
    disable2fa: JoiBool = None
    tags: list[Tag] | None = None
    disabledScopes: list[Scope] | None = None
    disabled: JoiBool = None
    featureFlags: FeatureFlags | None = None
    suspended: JoiBool = None

    @field_validator("disabledScopes")
    @classmethod
    def _unique_scopes(cls, scopes: list[str] | None) -> list[str] | None:
        for index, scope in enumerate(scopes or []):
            if scope in scopes[:index]:  # type: ignore[index]
                raise joi(f"contains a duplicate value at position {index}")
        return scopes


# Fields that are stored as given when present in the request.
_PLAIN = (
    "language",
    "mtaRelay",
    "spamLevel",
    "metaData",
    "internalData",
    "retention",
    "quota",
    "recipients",
    "forwards",
    "filters",
    "imapMaxUpload",
    "imapMaxDownload",
    "pop3MaxDownload",
    "pop3MaxMessages",
    "imapMaxConnections",
    "receivedMax",
)
_FLAGS = ("uploadSentMessages", "encryptMessages", "encryptForwarded", "disabled", "suspended")


def unique_tags(tags: list[str]) -> list[str]:
    """Trimmed, case-insensitively unique, sorted case-insensitively (as WildDuck stores them)."""
    seen: dict[str, str] = {}
    for tag in tags:
        if tag and tag.lower() not in seen:
            seen[tag.lower()] = tag
    return sorted(seen.values(), key=str.lower)


def user_changes(body: UpdateUser, given: dict[str, Any]) -> UserChanges:
    """The request's changes; a key counts as given when it was sent, even empty (WildDuck's `in`)."""
    fields: dict[str, Any] = {}
    for key in _PLAIN:
        value = getattr(body, key)
        if value is not None:
            fields[key] = value
    for key in _FLAGS:
        value = getattr(body, key)
        if value is not None:
            fields[key] = value
    if "name" in given:
        fields["name"] = body.name or ""
    if "pubKey" in given:
        fields["pubKey"] = body.pubKey or ""
    if body.targets is not None:
        fields["targets"] = list(body.targets)
    if body.tags is not None:
        fields["tags"] = unique_tags(body.tags)
    if body.fromWhitelist is not None:
        fields["fromWhitelist"] = list(dict.fromkeys(normalize_address(a) for a in body.fromWhitelist if a))
    if body.disabledScopes is not None:
        fields["disabledScopes"] = sorted(set(body.disabledScopes))
    if body.featureFlags is not None:
        fields["featureFlags"] = {"indexing": body.featureFlags.indexing is True}
    password = None
    if "password" in given and body.password is not None:
        password = PasswordChange(body.password, hashed=body.hashedPassword is True)
    return UserChanges(
        fields=fields,
        password=password,
        existing_password=body.existingPassword,
        disable2fa=body.disable2fa is True,
    )


def update_user(system: System, req: falcon.Request, resp: falcon.Response) -> None:
    """`PUT /users/:user`; a password change ends the account's other sessions but not this one."""
    body = parse(UpdateUser, req.context.params)
    principal: Principal = req.context.principal
    grant = require(principal, "update", "users", owner=body.user)
    given = grant.filter(req.context.params)  # a role may not change attributes it may not see
    changes = user_changes(parse(UpdateUser, given), given)
    if changes.password is not None:
        refuse_pwned(
            system.settings.pwned_passwords_url,
            changes.password.password,
            hashed=changes.password.hashed,
            allow_unsafe=body.allowUnsafe is not False,
            timeout=system.settings.pwned_passwords_timeout,
        )
    session = principal.token if principal.user == body.user else None
    system.mail.update_user(body.user, changes, session_token=session, meta=AuthMeta(sess=body.sess, ip=body.ip))
    resp.media = {"success": True}


class LogoutBody(WildDuckInput):
    user: ObjectIdParam
    reason: text(128) = None


class ResetBody(WildDuckInput):
    user: ObjectIdParam
    validAfter: Annotated[JoiDate, BeforeValidator(lambda v: None if v in (False, "false") else v)] = None


class UserPath(WildDuckInput):
    user: ObjectIdParam


class NoParams(WildDuckInput):
    pass


class LogoutResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_put(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(LogoutBody, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        self.system.mail.log_out_user(body.user, body.reason or "Logout requested from API")
        resp.media = {"success": True}


class PasswordResetResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(ResetBody, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        password, valid_after = self.system.mail.reset_password(
            body.user, body.validAfter, AuthMeta(sess=body.sess, ip=body.ip)
        )
        resp.media = {"success": True, "password": password, "validAfter": valid_after}


class UserQuotaResetResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(UserPath, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        used, previous = Housekeeping(self.system).recount_storage(body.user)
        resp.media = {"success": True, "storageUsed": used, "previousStorageUsed": previous}


class QuotaResetResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        parse(NoParams, req.context.params)
        require(req.context.principal, "update", "users")
        # WildDuck queues a task; the recount is one grouped query here, so it runs before answering.
        Housekeeping(self.system).recount_all_storage()
        resp.media = {"success": True, "task": self.system.mail.ids.object_id(self.system.mail.clock())}


class RestoreResource:
    """`GET` what a cancelled deletion would bring back; `POST` cancels the deletion."""

    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(UserPath, req.context.params)
        require(req.context.principal, "read", "users", owner=body.user)
        with self.system.engine.connect() as conn:
            row = account_archive.deleted_account(conn, body.user)
            used = messages_model.storage_used(conn, body.user)  # the mail stays until the deletion runs
        if row is None:
            raise WildDuckError(404, "AccountNotFound", "Deleted account was not found")
        resp.media = {
            "success": True,
            "user": body.user,
            "username": row["username"],
            "storageUsed": used,
            "tags": list(row["tags"] or []),
            "deleted": row["deleted"],
            "recoverableAddresses": row["recoverable"],
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(UserPath, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        result = self.system.mail.restore_user(body.user, AuthMeta(sess=body.sess, ip=body.ip))
        Housekeeping(self.system).recount_storage(body.user)  # the restored account shows its mail's size again
        resp.media = {"success": True, "code": "TaskCancelled", **result}


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/logout", LogoutResource(system))
    api.add("/users/{user}/password/reset", PasswordResetResource(system))
    api.add("/users/{user}/quota/reset", UserQuotaResetResource(system))
    api.add("/quota/reset", QuotaResetResource(system))
    api.add("/users/{user}/restore", RestoreResource(system))
