"""`GET /.well-known/acme-challenge/:token` under the API prefix, as WildDuck's `lib/api/acme.js`, and at the
root of the host where ACME servers look: public (no access token), answers the key authorization the ACME
client published for the request's host."""

from __future__ import annotations

from typing import Annotated, Any

import falcon
from pydantic import BeforeValidator

from chainmail.domain.mail.names import normalize_domain
from chainmail.http.errors import WildDuckError
from chainmail.http.router import Router
from chainmail.http.validation import WildDuckInput, joi, parse
from chainmail.projections import keys as keys_model
from chainmail.system import System


def _token(value: Any) -> Any:
    if not isinstance(value, str):
        raise joi("must be a string")
    if value == "":
        raise joi("is required")
    if len(value) > 256:
        raise joi("length must be less than or equal to 256 characters long")
    return value


class ChallengePath(WildDuckInput):
    model_config = {"extra": "ignore"}  # WildDuck validates this route with allowUnknown

    token: Annotated[str, BeforeValidator(_token)]


class AcmeChallengeResource:
    public = True  # ACME servers fetch it without a token

    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        params = parse(ChallengePath, req.context.params)
        host = (req.host or "").lower()
        with self.system.engine.connect() as conn:
            answer = keys_model.acme_key_authorization(
                conn, list({host, normalize_domain(host)}), params.token, self.system.mail.clock()
            )
        if answer is None:
            raise WildDuckError(404, "ChallengeNotFound", "Unknown challenge")
        resp.content_type = "text/plain; charset=utf-8"
        resp.text = answer


def add_routes(api: Router, system: System) -> None:
    resource = AcmeChallengeResource(system)
    api.add("/.well-known/acme-challenge/{token}", resource)
    if api.prefix:  # ACME servers ask at the root of the host, so answer there too
        Router(api.app, "").add("/.well-known/acme-challenge/{token}", resource)
