"""WildDuck's WebAuthn routes: registration and authentication ceremonies (hex-encoded), credential list."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import falcon
from pydantic import BeforeValidator

from chainmail.domain.mail.accounts import AuthMeta
from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.router import Router
from chainmail.http.validation import JoiBool, ObjectIdParam, WildDuckInput, joi, parse
from chainmail.projections import users as users_model
from chainmail.system import System

_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$", re.I)


def _hex(max_length: int) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise joi("must be a string")
        if value == "":
            raise joi("is not allowed to be empty")
        if len(value) > max_length:
            raise joi(f"length must be less than or equal to {max_length} characters long")
        if len(value) % 2 or not re.fullmatch(r"[0-9a-fA-F]+", value):
            raise joi("must only contain hexadecimal characters")
        return value.lower()

    return Annotated[str, BeforeValidator(check)]


def _uri(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme and parts.netloc:
            return value
    raise joi("must be a valid uri")


def _description(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    if value.strip() == "":
        raise joi("is not allowed to be empty")
    if len(value) > 1024:
        raise joi("length must be less than or equal to 1024 characters long")
    return value.strip()


def _hostname(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str) and _HOSTNAME.match(value):
        return value.lower()
    raise joi("must be a valid hostname")


Uri = Annotated[str, BeforeValidator(_uri)]
RpId = Annotated[str | None, BeforeValidator(_hostname)]
Attachment = Literal["platform", "cross-platform"]


class UserPath(WildDuckInput):
    user: ObjectIdParam


class CredentialPath(WildDuckInput):
    user: ObjectIdParam
    credential: ObjectIdParam


class RegistrationChallenge(WildDuckInput):
    user: ObjectIdParam
    description: Annotated[str, BeforeValidator(_description)]
    origin: Uri
    authenticatorAttachment: Attachment = "cross-platform"
    rpId: RpId = None


class RegistrationAttestation(WildDuckInput):
    user: ObjectIdParam
    challenge: _hex(2048)
    rawId: _hex(2048)
    clientDataJSON: _hex(1048576)
    attestationObject: _hex(1048576)
    rpId: RpId = None


class AuthenticationChallenge(WildDuckInput):
    user: ObjectIdParam
    origin: Uri
    authenticatorAttachment: Attachment = "cross-platform"
    rpId: RpId = None


class AuthenticationAssertion(WildDuckInput):
    user: ObjectIdParam
    challenge: _hex(2048)
    rawId: _hex(2048)
    clientDataJSON: _hex(1048576)
    authenticatorData: _hex(1048576)
    signature: _hex(1048576)
    rpId: RpId = None
    token: JoiBool = False


def _meta(body: WildDuckInput) -> AuthMeta:
    return AuthMeta(sess=body.sess, ip=body.ip)


class CredentialsResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(UserPath, req.context.params)
        require(req.context.principal, "read", "users", owner=body.user)
        with self.system.engine.connect() as conn:
            row = users_model.get_user(conn, body.user)
        if row is None:
            raise WildDuckError(404, "UserNotFound", "This user does not exist")
        resp.media = {"success": True, "credentials": list((row["profile"] or {}).get("webauthnCredentials", []))}


class CredentialResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str, credential: str) -> None:
        body = parse(CredentialPath, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        resp.media = {"success": True, "deleted": self.system.mail.webauthn_remove(body.user, body.credential)}


class RegistrationChallengeResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(RegistrationChallenge, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        options = self.system.mail.webauthn_registration_options(
            body.user, body.description, body.origin, body.authenticatorAttachment, body.rpId
        )
        resp.media = {"success": True, "registrationOptions": options}


class RegistrationAttestationResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(RegistrationAttestation, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        credential = self.system.mail.webauthn_register(
            body.user, body.challenge, body.rawId, body.clientDataJSON, body.attestationObject, _meta(body)
        )
        resp.media = {"success": True, **credential}


class AuthenticationChallengeResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(AuthenticationChallenge, req.context.params)
        require(req.context.principal, "read", "users", owner=body.user)
        options = self.system.mail.webauthn_authentication_options(
            body.user, body.origin, body.authenticatorAttachment, body.rpId
        )
        resp.media = {"success": True, "authenticationOptions": options}


class AuthenticationAssertionResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(AuthenticationAssertion, req.context.params)
        require(req.context.principal, "read", "users", owner=body.user)
        credential = self.system.mail.webauthn_authenticate(
            body.user,
            body.challenge,
            body.rawId,
            body.clientDataJSON,
            body.authenticatorData,
            body.signature,
            _meta(body),
        )
        result: dict[str, Any] = {"success": True, "response": {"authenticated": True, "credential": credential}}
        if body.token is True:
            result["token"] = self.system.mail.issue_token(body.user)
        resp.media = result


def add_routes(api: Router, system: System) -> None:
    base = "/users/{user}/2fa/webauthn"
    api.add(base + "/credentials", CredentialsResource(system))
    api.add(base + "/credentials/{credential}", CredentialResource(system))
    api.add(base + "/registration-challenge", RegistrationChallengeResource(system))
    api.add(base + "/registration-attestation", RegistrationAttestationResource(system))
    api.add(base + "/authentication-challenge", AuthenticationChallengeResource(system))
    api.add(base + "/authentication-assertion", AuthenticationAssertionResource(system))
