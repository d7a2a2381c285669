"""Who is calling /api: the root token, a user token, or nobody in open mode; and what their role may do.

Token precedence is WildDuck's: query `accessToken`, then `X-Access-Token`, then `Authorization`
(a leading `Bearer ` is optional). Roles and grants are WildDuck's `roles.json`.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qsl

import falcon

from chainmail.http.errors import invalid_token, missing_privileges

Action = Literal["create", "read", "update", "delete"]
USER_TOKEN = re.compile(r"^[0-9a-f]{40}$")
USER_ID = re.compile(r"^[0-9a-f]{24}$")


@dataclass(frozen=True)
class Principal:
    role: str
    user: str  # "root" for the root token and open mode, else the user's ObjectId
    token: str | None = None

    @property
    def is_root(self) -> bool:
        return self.role == "root"


ROOT = Principal(role="root", user="root")

# Resolves a 40-hex user token to its principal, or None (issued by POST /authenticate).
TokenResolver = Callable[[str], Principal | None]


def request_token(req: falcon.Request) -> str | None:
    for key, value in parse_qsl(req.query_string, keep_blank_values=True):
        if key == "accessToken" and value:
            return value.strip()
    header = req.get_header("X-Access-Token")
    if header:
        return header.strip()
    authorization = req.get_header("Authorization")
    if authorization:
        value = authorization.strip()
        return value[7:].strip() if value[:7].lower() == "bearer " else value
    return None


class AccessTokenMiddleware:
    """Sets `req.context.principal` on /api routes, or answers 403 InvalidToken."""

    def __init__(
        self,
        *,
        root_token: str | None,
        access_control: bool,
        resolve_user_token: TokenResolver | None,
        applies_to: Callable[[falcon.Request], bool],
    ) -> None:
        self.root_token, self.access_control = root_token, access_control
        self.resolve_user_token, self.applies_to = resolve_user_token, applies_to

    def authenticate(self, token: str | None) -> Principal:
        if token and self.root_token and hmac.compare_digest(token.encode(), self.root_token.encode()):
            return ROOT
        if not (self.access_control or self.root_token or token):
            return ROOT  # open mode, as WildDuck without access control
        if token and USER_TOKEN.match(token) and self.resolve_user_token is not None:
            principal = self.resolve_user_token(token)
            if principal is not None:
                return principal
        raise invalid_token()

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict) -> None:
        if resource is None or not self.applies_to(req) or getattr(resource, "public", False):
            return
        principal = self.authenticate(request_token(req))
        req.context.principal = principal
        if params.get("user") == "me" and not principal.is_root and principal.user != "root":
            params["user"] = principal.user


# -- roles ---------------------------------------------------------------------------------------


@cache
def _roles() -> dict[str, dict[str, dict[str, list[str]]]]:
    return json.loads(resources.files("chainmail.http").joinpath("roles.json").read_text("utf-8"))


@dataclass(frozen=True)
class Permission:
    granted: bool
    attributes: tuple[str, ...] = ()

    def filter(self, data: dict[str, Any]) -> dict[str, Any]:
        """Drop the attributes this grant does not show (`*` with `!name` exclusions)."""
        allowed_all = "*" in self.attributes
        denied = {a[1:] for a in self.attributes if a.startswith("!")}
        allowed = {a for a in self.attributes if a != "*" and not a.startswith("!")}
        return {k: v for k, v in data.items() if (allowed_all or k in allowed) and k not in denied}


def permission(role: str, action: Action, resource: str, *, own: bool) -> Permission:
    """WildDuck's accesscontrol: `any` grants cover own data too; `own` grants only the caller's."""
    grants = _roles().get(role, {}).get(resource, {})
    for possession in ("any", "own") if own else ("any",):
        attributes = grants.get(f"{action}:{possession}")
        if attributes:
            return Permission(True, tuple(attributes))
    return Permission(False)


def require(principal: Principal, action: Action, resource: str, owner: str | None = None) -> Permission:
    """The caller's permission for `resource` owned by `owner`, or 403 MissingPrivileges."""
    granted = permission(principal.role, action, resource, own=owner is not None and owner == principal.user)
    if not granted.granted:
        raise missing_privileges()
    return granted


def listing_scope(principal: Principal, resource: str) -> tuple[Permission, str | None]:
    """A listing's permission and, for roles that may only see their own rows, the user to restrict to."""
    wide = permission(principal.role, "read", resource, own=False)
    if wide.granted:
        return wide, None
    own = permission(principal.role, "read", resource, own=True)
    if own.granted and USER_ID.match(principal.user):
        return own, principal.user
    raise missing_privileges()
