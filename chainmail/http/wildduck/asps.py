"""WildDuck's application-specific password routes, with Apple mobileconfig profiles on request."""

from __future__ import annotations

import base64
import plistlib
import uuid
from typing import Annotated, Any, Literal

import falcon
from pydantic import BeforeValidator, Field, field_validator

from chainmail.domain.mail.names import normalize_address, uview
from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.router import Router
from chainmail.http.validation import JoiBool, Number, ObjectIdParam, WildDuckInput, joi, parse
from chainmail.http.wildduck.fields import Email
from chainmail.projections import addresses as addresses_model
from chainmail.projections import asps as asps_model
from chainmail.projections import users as users_model
from chainmail.system import System

Scope = Literal["imap", "pop3", "smtp", "*"]
ALL_SCOPES = ["imap", "pop3", "smtp"]


def _description(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    if value.strip() == "":
        raise joi("is not allowed to be empty")
    if len(value) > 255:
        raise joi("length must be less than or equal to 255 characters long")
    return value.strip()


def _asp_password(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) == 16 and value.isascii() and value.isalpha() and value.islower():
        return value
    raise joi(f'with value "{value}" fails to match the required pattern: /^[a-z]{{16}}$/')


class ListAsps(WildDuckInput):
    user: ObjectIdParam
    showAll: JoiBool = False


class AspPath(WildDuckInput):
    user: ObjectIdParam
    asp: ObjectIdParam


class CreateAsp(WildDuckInput):
    user: ObjectIdParam
    description: Annotated[str, BeforeValidator(_description)]
    scopes: list[Scope] | None = None
    address: Email | None = None
    password: Annotated[str | None, BeforeValidator(_asp_password)] = None
    generateMobileconfig: JoiBool = False
    ttl: Annotated[Number, Field(ge=0)] | None = None

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[str] | None) -> list[str] | None:
        for index, scope in enumerate(scopes or []):
            if scope in (scopes or [])[:index]:
                raise joi(f"contains a duplicate value at position {index}")
        return scopes


def _asp_view(row: dict[str, Any]) -> dict[str, Any]:
    scopes = list(row["scopes"] or [])
    return {
        "id": row["id"],
        "description": row["description"],
        "scopes": ALL_SCOPES if "*" in scopes else scopes,
        "lastUse": {"time": row["used"] or False, "event": row["auth_event"] or False},
        "expires": row["expires"] or False,
        "created": row["created"],
    }


def mobileconfig(
    system: System, user: dict[str, Any], address: str, name: str, description: str, password: str, scopes: list[str]
) -> str:
    """An Apple configuration profile for the account (unsigned: no signing certificate is configured)."""
    host = system.settings.email_domain
    imap = "*" in scopes or "imap" in scopes
    account = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"com.chainmail.{user['id']}.account",
        "PayloadUUID": str(uuid.uuid4()).upper(),
        "PayloadDisplayName": "Email Account",
        "PayloadDescription": "Configures email account",
        "EmailAccountDescription": address,
        "EmailAccountName": name,
        "EmailAccountType": "EmailTypeIMAP" if imap else "EmailTypePOP",
        "EmailAddress": address,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerHostName": host,
        "IncomingMailServerPortNumber": 993 if imap else 995,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": user["username"],
        "IncomingPassword": password,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": host,
        "OutgoingMailServerPortNumber": 465,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": user["username"],
        "OutgoingPassword": password,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"com.chainmail.{user['id']}",
        "PayloadUUID": str(uuid.uuid4()).upper(),
        "PayloadDisplayName": description or "Mail Account",
        "PayloadDescription": f"Install this profile to set up {address}",
        "PayloadOrganization": "WildDuck Mail Server",
        "PayloadContent": [account],
    }
    return base64.b64encode(plistlib.dumps(profile)).decode()


class AspsResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def _user(self, user_id: str) -> dict[str, Any]:
        with self.system.engine.connect() as conn:
            row = users_model.get_user(conn, user_id)
        if row is None:
            raise WildDuckError(404, "UserNotFound", "This user does not exist")
        return row

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(ListAsps, req.context.params)
        require(req.context.principal, "read", "asps", owner=params.user)
        self._user(params.user)
        with self.system.engine.connect() as conn:
            rows = asps_model.user_asps(conn, params.user)
        shown = [r for r in rows if params.showAll is True or not r["ttl"]]
        resp.media = {"success": True, "results": [_asp_view(r) for r in shown]}

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(CreateAsp, req.context.params)
        require(req.context.principal, "create", "asps", owner=body.user)
        scopes = ["*"] if not body.scopes or "*" in body.scopes else list(body.scopes)
        wants_profile = body.generateMobileconfig is True
        if (
            wants_profile
            and "*" not in scopes
            and (("imap" not in scopes and "pop3" not in scopes) or "smtp" not in scopes)
        ):
            raise WildDuckError(400, "InvalidAuthScope", "Profile file requires either imap or pop3 and smtp scopes")
        account = self._user(body.user)
        address, name = account["address"], account["name"] or ""
        if body.address:
            with self.system.engine.connect() as conn:
                row = addresses_model.find_address(conn, uview(normalize_address(body.address, remove_label=True)))
            if row is None or row["user_id"] != body.user:
                raise WildDuckError(404, "AddressNotFound", "Invalid or unknown address")
            address, name = row["address"], row["name"] or name
        asp_id, password = self.system.mail.create_asp(
            body.user, body.description, scopes, body.password, int(body.ttl) if body.ttl else None
        )
        result: dict[str, Any] = {"success": True, "id": asp_id, "password": password}
        if wants_profile:
            result.update(
                name=name,
                address=address,
                mobileconfig=mobileconfig(self.system, account, address, name, body.description, password, scopes),
            )
        resp.media = result


class AspResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str, asp: str) -> None:
        params = parse(AspPath, req.context.params)
        require(req.context.principal, "read", "asps", owner=params.user)
        with self.system.engine.connect() as conn:
            row = asps_model.get_asp(conn, params.user, params.asp)
        if row is None:
            raise WildDuckError(404, "AspNotFound", "Invalid or unknown ASP key")
        resp.media = {"success": True, **_asp_view(row)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str, asp: str) -> None:
        params = parse(AspPath, req.context.params)
        require(req.context.principal, "delete", "asps", owner=params.user)
        self.system.mail.delete_asp(params.user, params.asp)
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/asps", AspsResource(system))
    api.add("/users/{user}/asps/{asp}", AspResource(system))
