"""WildDuck's autoreply routes: the out-of-office answer of a user, with its time window."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import falcon
from pydantic import BeforeValidator, Field

from chainmail.http.auth import require
from chainmail.http.router import Router
from chainmail.http.validation import JoiBool, JoiDate, ObjectIdParam, WildDuckInput, parse
from chainmail.http.wire import js_iso
from chainmail.mail.store import MailStore
from chainmail.projections.userdata import get_autoreply
from chainmail.system import System


def _false_or_date(value: Any) -> Any:
    return False if value in (False, "false") else value


FalseOrDate = Annotated[JoiDate | bool, BeforeValidator(_false_or_date)]


class UpdateAutoreply(WildDuckInput):
    user: ObjectIdParam
    status: JoiBool = None
    name: Annotated[str, Field(max_length=128)] | None = None
    subject: Annotated[str, Field(max_length=2048)] | None = None
    text: Annotated[str, Field(max_length=128 * 1024)] | None = None
    html: Annotated[str, Field(max_length=128 * 1024)] | None = None
    start: FalseOrDate = None
    end: FalseOrDate = None


class UserOnly(WildDuckInput):
    user: ObjectIdParam


DEFAULTS: dict[str, Any] = {
    "status": False,
    "name": "",
    "subject": "",
    "text": "",
    "html": "",
    "start": False,
    "end": False,
}


class AutoreplyResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(UserOnly, req.context.params)
        require(req.context.principal, "read", "autoreplies", params.user)
        self.store.user(params.user)
        with self.system.engine.connect() as conn:
            row = get_autoreply(conn, params.user)
        settings = {**DEFAULTS, **(row["settings"] if row else {})}
        for key in ("start", "end"):
            if settings[key]:
                settings[key] = js_iso(datetime.fromisoformat(settings[key]))
        answer: dict[str, Any] = {"success": True, **settings, "created": js_iso(row["created"]) if row else None}
        # As WildDuck: start, end and created are left out (undefined) when unset.
        resp.media = {k: v for k, v in answer.items() if k not in ("start", "end", "created") or v}

    def on_put(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(UpdateAutoreply, req.context.params)
        require(req.context.principal, "update", "autoreplies", params.user)
        self.store.user(params.user)
        with self.system.engine.connect() as conn:
            row = get_autoreply(conn, params.user)
        settings = dict(row["settings"]) if row else {}
        for key in DEFAULTS:
            value = getattr(params, key)
            if value is None:
                continue
            if key in ("start", "end"):
                value = value.isoformat() if isinstance(value, datetime) else False
            settings[key] = value
        autoreply_id = self.system.mail.set_autoreply(params.user, settings)
        resp.media = {"success": True, "id": autoreply_id}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(UserOnly, req.context.params)
        require(req.context.principal, "delete", "autoreplies", params.user)
        self.store.user(params.user)
        self.system.mail.clear_autoreply(params.user)
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/autoreply", AutoreplyResource(system))
