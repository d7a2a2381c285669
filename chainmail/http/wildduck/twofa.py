"""WildDuck's second-factor routes: TOTP setup/enable/check/disable, custom 2FA, disabling all 2FA."""

from __future__ import annotations

from typing import Annotated, Any

import falcon
import segno
from pydantic import BeforeValidator

from chainmail.domain.mail.accounts import AuthMeta
from chainmail.http.auth import require
from chainmail.http.router import Router
from chainmail.http.validation import ObjectIdParam, WildDuckInput, joi, parse, text
from chainmail.system import System


def _required(max_length: int) -> Any:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise joi("must be a string")
        if value == "":
            raise joi("is not allowed to be empty")
        if len(value) > max_length:
            raise joi(f"length must be less than or equal to {max_length} characters long")
        return value

    return Annotated[str, BeforeValidator(check)]


def _six(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise joi("must be a string")
    if len(value) != 6:
        raise joi("length must be 6 characters long")
    return value


class UserPath(WildDuckInput):
    user: ObjectIdParam


class TotpSetup(WildDuckInput):
    user: ObjectIdParam
    label: text(255) = None
    issuer: _required(255)


class TotpToken(WildDuckInput):
    user: ObjectIdParam
    token: Annotated[str, BeforeValidator(_six)]


def _meta(body: WildDuckInput) -> AuthMeta:
    return AuthMeta(sess=body.sess, ip=body.ip)


class TotpSetupResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(TotpSetup, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        seed, url = self.system.mail.setup_totp(body.user, body.label, body.issuer)
        qrcode = segno.make(url, error="m").png_data_uri(scale=4)
        resp.media = {"success": True, "seed": seed, "qrcode": qrcode}


class TotpEnableResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(TotpToken, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        self.system.mail.enable_totp(body.user, body.token, _meta(body))
        resp.media = {"success": True}


class TotpCheckResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(TotpToken, req.context.params)
        require(req.context.principal, "read", "users", owner=body.user)
        self.system.mail.check_totp(body.user, body.token, _meta(body))
        resp.media = {"success": True}


class TotpResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(UserPath, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        self.system.mail.disable_totp(body.user, _meta(body))
        resp.media = {"success": True}


class CustomTwoFactorResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_put(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(UserPath, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        self.system.mail.enable_custom_2fa(body.user, _meta(body))
        resp.media = {"success": True}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(UserPath, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        self.system.mail.disable_custom_2fa(body.user, _meta(body))
        resp.media = {"success": True}


class TwoFactorResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        body = parse(UserPath, req.context.params)
        require(req.context.principal, "update", "users", owner=body.user)
        self.system.mail.disable_2fa(body.user, _meta(body))
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/2fa", TwoFactorResource(system))
    api.add("/users/{user}/2fa/totp", TotpResource(system))
    api.add("/users/{user}/2fa/totp/setup", TotpSetupResource(system))
    api.add("/users/{user}/2fa/totp/enable", TotpEnableResource(system))
    api.add("/users/{user}/2fa/totp/check", TotpCheckResource(system))
    api.add("/users/{user}/2fa/custom", CustomTwoFactorResource(system))
