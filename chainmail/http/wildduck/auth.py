"""WildDuck's authentication routes: `/authenticate`, `/preauth`, the authlog, and the user-token check.

`login()` is the one place that turns credentials into an `Authenticated` user; other ways to sign in
(wallet signatures) can call it or sit beside it and reuse `authenticate_response()`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import falcon
from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from chainmail.domain.mail.access_tokens import token_alive, token_hash
from chainmail.domain.mail.accounts import Authenticated, AuthMeta
from chainmail.http.auth import Principal, TokenResolver, require
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import (
    Cursor,
    IpAddress,
    JoiBool,
    Number,
    ObjectIdParam,
    WildDuckInput,
    joi,
    parse,
)
from chainmail.http.wildduck import wallet_login
from chainmail.http.wildduck.fields import USERNAME, is_email
from chainmail.projections import access_tokens as tokens_model
from chainmail.projections import authlog as authlog_model
from chainmail.projections import users as users_model
from chainmail.system import System


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes; PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- input ------------------------------------------------------------------------------------------


def _login_name(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    if value == "":
        raise joi("is not allowed to be empty")
    lowered = value.lower()
    if len(lowered) <= 128 and USERNAME.match(lowered):
        return lowered
    if is_email(value.strip()):
        return value.strip()
    raise joi("does not match any of the allowed types")


def _uri(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme and (parts.netloc or parts.path):
            return value
    raise joi("must be a valid uri")


def _required_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    if value == "":
        raise joi("is not allowed to be empty")
    return value


LoginName = Annotated[str, BeforeValidator(_login_name)]
Password = Annotated[str, BeforeValidator(_required_text), Field(max_length=256)]


class PreauthBody(WildDuckInput):
    username: LoginName
    scope: Annotated[str, BeforeValidator(_required_text)] = "master"


class AuthenticateBody(WildDuckInput):
    username: LoginName
    password: Password
    protocol: Annotated[str, BeforeValidator(_required_text)] = "API"
    appId: Annotated[str | None, BeforeValidator(_uri)] = None
    token: JoiBool = False  # before `scope`: its rule depends on this one
    scope: Annotated[str, BeforeValidator(_required_text)] = "master"

    @field_validator("scope")
    @classmethod
    def _master_for_tokens(cls, scope: str, info: ValidationInfo) -> str:
        if info.data.get("token") is True and scope != "master":
            raise joi("must be [master]")
        return scope


class AuthlogQuery(WildDuckInput):
    user: ObjectIdParam
    action: Annotated[str | None, BeforeValidator(lambda v: v.strip().lower() or None if isinstance(v, str) else v)] = (
        None
    )
    limit: Annotated[Number, Field(ge=1, le=250)] = 20
    next: Cursor = None
    previous: Cursor = None
    page: Annotated[Number, Field(ge=1)] | None = None
    filterip: IpAddress = None

    @field_validator("action")
    @classmethod
    def _action_length(cls, action: str | None) -> str | None:
        if action is not None and len(action) > 100:
            raise joi("length must be less than or equal to 100 characters long")
        return action


class AuthlogEventPath(WildDuckInput):
    user: ObjectIdParam
    event: ObjectIdParam


# -- signing in -------------------------------------------------------------------------------------


def login(system: System, body: AuthenticateBody) -> Authenticated:
    """Username and password (or an application password) to the account they open; 403 otherwise."""
    meta = AuthMeta(protocol=body.protocol, sess=body.sess, ip=body.ip, app_id=body.appId)
    return system.mail.authenticate(body.username, body.password, body.scope, meta)


def authenticate_response(system: System, who: Authenticated, *, with_token: bool) -> dict[str, Any]:
    """The body of a successful `POST /authenticate`, with a fresh user token when asked for."""
    body: dict[str, Any] = {"success": True, "id": who.user_id, "username": who.username}
    if who.asp is None:
        body.update(
            address=who.address,
            scope=who.scope,
            require2fa=who.require2fa,
            requirePasswordChange=who.require_password_change,
        )
    else:  # WildDuck's answer for an application password names no address
        body.update(scope=who.scope, require2fa=False)
    if with_token:
        body["token"] = system.mail.issue_token(who.user_id)
    return body


class AuthenticateResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if wallet_login.is_wallet_login(req.context.params):  # a wallet's signature instead of a password
            who, with_token, grant = wallet_login.wallet_login(self.system, req.context.principal, req.context.params)
            resp.media = grant.filter(authenticate_response(self.system, who, with_token=with_token))
            return
        body = parse(AuthenticateBody, req.context.params)
        grant = require(req.context.principal, "create", "authentication")
        who = login(self.system, body)
        resp.media = grant.filter(authenticate_response(self.system, who, with_token=body.token is True))

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal: Principal = req.context.principal
        if principal.token and not principal.is_root:
            self.system.mail.revoke_token(token_hash(principal.token))
        resp.media = {"success": True}


class PreauthResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(PreauthBody, req.context.params)
        grant = require(req.context.principal, "create", "authentication")
        who = self.system.mail.preauth(body.username, body.scope)
        resp.media = grant.filter(
            {
                "success": True,
                "id": who.user_id,
                "username": who.username,
                "address": who.address,
                "scope": who.scope,
                "require2fa": who.require2fa,
            }
        )


# -- the authlog ------------------------------------------------------------------------------------


def _authlog_item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        **row["entry"],
        "created": aware(row["created"]),
        "last": aware(row["last"]),
        "events": row["events"],
        "expires": aware(row["expires"]),
    }


def _existing_user(system: System, user_id: str) -> None:
    with system.engine.connect() as conn:
        if users_model.get_user(conn, user_id) is None:
            raise WildDuckError(404, "UserNotFound", "This user does not exist")


class AuthlogResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(AuthlogQuery, req.context.params)
        require(req.context.principal, "read", "authentication", owner=params.user)
        _existing_user(self.system, params.user)
        after, before, page_number = page_request(params.next, params.previous)
        with self.system.engine.connect() as conn:
            total = authlog_model.count_events(conn, params.user, params.filterip)
            page = authlog_model.list_events(
                conn, params.user, params.filterip, limit=int(params.limit), after=after, before=before
            )
        body: dict[str, Any] = {"success": True}
        if params.action is not None:
            body["action"] = params.action
        resp.media = {
            **body,
            "total": total,
            **page_fields(page, page_number),
            "results": [_authlog_item(dict(row._mapping)) for row in page.rows],
        }


class AuthlogEventResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str, event: str) -> None:
        params = parse(AuthlogEventPath, req.context.params)
        require(req.context.principal, "read", "authentication", owner=params.user)
        _existing_user(self.system, params.user)
        with self.system.engine.connect() as conn:
            row = authlog_model.get_event(conn, params.user, params.event)
        if row is None:
            raise WildDuckError(404, "EventNotFound", "Event was not found")
        resp.media = {"success": True, **_authlog_item(row)}


# -- user tokens ------------------------------------------------------------------------------------


def user_token_resolver(system: System) -> TokenResolver:
    """Checks a 40-hex token against the `access_tokens` read model: alive, and not older than a
    password change (authVersion). Each use slides its idle expiry."""

    def resolve(token: str) -> Principal | None:
        hashed = token_hash(token)
        with system.engine.connect() as conn:
            found = tokens_model.token_and_auth_version(conn, hashed)
        if found is None:
            return None
        row, auth_version = found
        last_used = aware(row["last_used"])
        if not token_alive(created=aware(row["created"]), last_used=last_used, ttl=row["ttl"], now=system.mail.clock()):
            return None
        if row["auth_version"] < auth_version:
            return None
        system.mail.record_token_use(hashed, last_used)
        return Principal(role=row["role"], user=row["user_id"], token=token)

    return resolve


def add_routes(api: Router, system: System) -> None:
    api.add("/authenticate", AuthenticateResource(system))
    api.add("/preauth", PreauthResource(system))
    api.add("/users/{user}/authlog", AuthlogResource(system))
    api.add("/users/{user}/authlog/{event}", AuthlogEventResource(system))
