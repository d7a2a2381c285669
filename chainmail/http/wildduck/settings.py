"""WildDuck's settings routes: list, set and read the `const:*` keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import falcon
from pydantic import Field

from chainmail.domain.mail.settings import SETTING_KEYS, SETTINGS
from chainmail.http.auth import require
from chainmail.http.router import Router
from chainmail.http.validation import WildDuckInput, parse, text
from chainmail.projections import settings as settings_model
from chainmail.system import System

SettingName = Literal[tuple(s.key for s in SETTING_KEYS)]  # type: ignore[valid-type]


class ListSettings(WildDuckInput):
    model_config = WildDuckInput.model_config | {"extra": "ignore"}

    filter: text(128) = None


class SetSetting(WildDuckInput):
    key: SettingName
    value: Any = Field(...)


class GetSetting(WildDuckInput):
    key: Annotated[str, Field(min_length=1, max_length=128)]


class SettingsResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = parse(ListSettings, req.context.params)
        require(req.context.principal, "read", "settings")
        with self.system.engine.connect() as conn:
            custom = settings_model.custom_settings(conn)
        wanted = (params.filter or "").strip().lower()
        results = [
            {
                "key": s.key,
                "value": custom.get(s.key, s.default),
                "name": s.name,
                "description": s.description,
                "default": s.default,
                "type": s.type,
                "custom": s.key in custom,
            }
            for s in SETTING_KEYS
            if wanted in s.key.lower()
        ]
        body: dict[str, Any] = {"success": True}
        if params.filter:
            body["filter"] = params.filter
        resp.media = {**body, "settings": sorted(results, key=lambda r: r["key"])}


class SettingResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        body = parse(SetSetting, req.context.params)
        require(req.context.principal, "create", "settings")
        self.system.mail.set_setting(body.key, body.value)
        resp.media = {"success": True, "key": body.key}

    def on_get(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        params = parse(GetSetting, req.context.params)
        require(req.context.principal, "read", "settings")
        known = SETTINGS.get(params.key)
        with self.system.engine.connect() as conn:
            value = settings_model.setting(conn, params.key, known.default if known else None)
        body: dict[str, Any] = {"success": True, "key": params.key}
        if value is not None:
            body["value"] = value
        resp.media = body


def add_routes(api: Router, system: System) -> None:
    api.add("/settings", SettingsResource(system))
    api.add("/settings/{key}", SettingResource(system))
