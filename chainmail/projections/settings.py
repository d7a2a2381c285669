"""The `settings` read model: the `const:*` values an administrator has set."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON, Column, Connection, DateTime, Engine, String, Table, func, insert, select, update

from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.limits import DEFAULTS
from chainmail.domain.mail.settings import Setting
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

settings = Table(
    "settings",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", JSON, nullable=True),
    Column("updated", DateTime(timezone=True), nullable=False),
)


class SettingsProjection(Projection):
    name = "settings"
    follows = (Mail,)
    tables = (settings,)

    @handles(Setting.Set)
    def set(self, tx: Connection, e: Setting.Set) -> None:
        tx.execute(insert(self.t.settings).values(key=e.key, value={"v": e.value}, updated=e.set_at))

    @handles(Setting.Changed)
    def changed(self, tx: Connection, e: Setting.Changed) -> None:
        t = self.t.settings
        tx.execute(update(t).where(t.c.key == e.key).values(value={"v": e.value}, updated=e.set_at))


def custom_settings(conn: Connection) -> dict[str, Any]:
    return {row.key: (row.value or {}).get("v") for row in conn.execute(select(settings))}


def setting(conn: Connection, key: str, default: Any) -> Any:
    row = conn.execute(select(settings.c.value).where(settings.c.key == key)).first()
    return (row.value or {}).get("v", default) if row else default


def all_settings_column(conn: Connection | Engine) -> Any:
    """Every setting as one JSON object {key: value}, a scalar subquery to read beside another row."""
    if conn.dialect.name == "postgresql":
        aggregate = func.json_object_agg(settings.c.key, settings.c.value)
    else:
        aggregate = func.json_group_object(settings.c.key, func.json(settings.c.value))
    return select(aggregate).scalar_subquery()


def from_all_settings(value: Any) -> dict[str, Any]:
    """What `all_settings_column` read, as `custom_settings` answers it."""
    found = json.loads(value) if isinstance(value, str | bytes) else value
    return {key: (stored or {}).get("v") for key, stored in (found or {}).items()}


def account_limit(profile: Mapping[str, Any], own: str, custom: Mapping[str, Any], key: str) -> int:
    """An account's limit: its own (`profile[own]`, 0 for none), else the administrator's `key` (`custom`, the
    settings as `custom_settings` answers them), else the built-in default, as `GET /users/:id` shows it."""
    return int(profile.get(own) or 0) or int(defaults_over(dict(custom), DEFAULTS)[key])


def defaults_over(custom: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {
        key: custom.get(key, value) if isinstance(custom.get(key), int | float) else value
        for key, value in defaults.items()
    }
