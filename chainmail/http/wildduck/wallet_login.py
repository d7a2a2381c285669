"""The wallet branch of WildDuck's `POST /authenticate`: `{username, signature, message, signer,
emailDomain?}` signs in the wallet (checked by the identity context), creating its WildDuck account on
first use: username = the wallet address (EVM lower-cased) or its name, address `<username>@<domain>`."""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from chainmail.domain.errors import AlreadyExists, DomainError
from chainmail.domain.identity.application import Identity, SignInRefused
from chainmail.domain.mail.accounts import Authenticated
from chainmail.domain.mail.application import NewUser
from chainmail.http.auth import Principal, require
from chainmail.http.errors import WildDuckError
from chainmail.http.validation import JoiBool, WildDuckInput, joi, parse
from chainmail.rewards.awards import reward_sign_in
from chainmail.system import System

_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")


def _required_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    if value == "":
        raise joi("is not allowed to be empty")
    return value


def _domain(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str) and _DOMAIN.match(value.strip().lower()):
        return value.strip().lower()
    raise joi("must contain a valid domain name")


Text = Annotated[str, BeforeValidator(_required_text)]


class WalletAuthenticateBody(WildDuckInput):
    username: Annotated[str, BeforeValidator(_required_text), Field(max_length=256)]
    signature: Annotated[str, BeforeValidator(_required_text), Field(max_length=512)]
    message: Annotated[str, BeforeValidator(_required_text), Field(max_length=8192)]
    signer: Annotated[str | None, Field(max_length=64)] = None
    emailDomain: Annotated[str | None, BeforeValidator(_domain)] = None
    password: str | None = None  # ignored: a wallet login is proven by its signature
    protocol: Text = "API"
    appId: str | None = None
    token: JoiBool = False
    scope: Text = "master"
    referrer: Annotated[str | None, Field(max_length=64)] = None


def is_wallet_login(params: dict[str, Any]) -> bool:
    return params.get("signature") not in (None, "") or params.get("message") not in (None, "")


def wallet_login(system: System, principal: Principal, params: dict[str, Any]) -> tuple[Authenticated, bool, Any]:
    """Sign the wallet in; returns (the account, whether a token was asked for, the role's grant)."""
    body = parse(WalletAuthenticateBody, params)
    grant = require(principal, "create", "authentication")
    if body.token is True and body.scope != "master":
        raise WildDuckError(
            400, "InputValidationError", '"scope" must be [master]', details={"scope": "must be [master]"}
        )
    identity = system.context(Identity)
    try:
        login = identity.verify_wallet_login(
            body.username, body.message, body.signature, body.signer, via="wildduck", referrer=body.referrer
        )
    except SignInRefused as refused:
        raise WildDuckError(403, "IndexerAuthFailed", "Authentication failed", reason=refused.code) from None
    reward_sign_in(system, login.signer or login.wallet)
    username = login.username
    domain = body.emailDomain or system.mail.email_domain
    try:
        who = system.mail.preauth(username, body.scope)
    except DomainError:
        # AlreadyExists: a concurrent first login created it, or the account exists but is disabled.
        with suppress(AlreadyExists):
            system.mail.create_user(NewUser(username=username, address=f"{username}@{domain}"))
        who = system.mail.preauth(username, body.scope)
    return who, body.token is True, grant
