"""The `settings` read model: the `const:*` values an administrator has set."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Connection, DateTime, String, Table, insert, select, update

from chainmail.domain.mail.application import Mail
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


def limit_defaults(conn: Connection, defaults: dict[str, Any]) -> dict[str, Any]:
    """The built-in limit defaults with the administrator's `const:*` settings over them."""
    custom = custom_settings(conn)
    return {
        key: custom.get(key, value) if isinstance(custom.get(key), int | float) else value
        for key, value in defaults.items()
    }
