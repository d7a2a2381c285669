"""The `users` read model: one row per live WildDuck account, its tags, and the queries on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    String,
    Table,
    Text,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from chainmail.domain.ids import object_id_of
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.mailboxes import Mailbox
from chainmail.domain.mail.names import uview
from chainmail.domain.mail.userdata import Autoreply
from chainmail.domain.mail.users import User
from chainmail.projections.paging import Boundary, Page, keyset_page
from chainmail.projections.projection import BatchedWrites, Projection, handles
from chainmail.store.prepared import Prepared
from chainmail.store.schema import metadata

users = Table(
    "users",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("username", String(128), nullable=False),
    Column("unameview", String(128), nullable=False),
    Column("name", String(256), nullable=True),
    Column("address", String(320), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("targets", Text, nullable=False),  # forwarding targets, one per line, for `forward` filters
    Column("profile", JSON, nullable=False),
    Column("storage_used", BigInteger, nullable=False),
    Column("activated", Boolean, nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("suspended", Boolean, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Index(None, "unameview", unique=True),
    Index(None, "address"),
)

user_tags = Table(
    "user_tags",
    metadata,
    Column("user_id", String(24), primary_key=True),
    Column("tag", String(128), primary_key=True),
    Index(None, "tag"),
)


class UsersProjection(Projection):
    name = "users"
    follows = (Mail,)
    tables = (users, user_tags)

    @handles(User.Created)
    def created(self, tx: BatchedWrites, e: User.Created) -> None:
        targets = [t["value"] for t in e.profile.get("targets", [])]
        tx.insert(
            self.t.users,
            {
                "id": e.user_id,
                "username": e.username,
                "unameview": e.unameview,
                "name": e.name or None,
                "address": e.address,
                "password_hash": e.password_hash,
                "tags": e.tags,
                "targets": "\n".join(targets),
                "profile": e.profile,
                "storage_used": 0,
                "activated": True,
                "disabled": False,
                "suspended": False,
                "created": e.created_at,
            },
        )
        for tag in sorted({tag.lower() for tag in e.tags}):
            tx.insert(self.t.user_tags, {"user_id": e.user_id, "tag": tag})

    @handles(User.Deleted)
    def deleted(self, tx: Connection, e: User.Deleted) -> None:
        user_id = object_id_of(e.originator_id)
        tx.execute(delete(self.t.users).where(self.t.users.c.id == user_id))
        tx.execute(delete(self.t.user_tags).where(self.t.user_tags.c.user_id == user_id))

    # -- accounts: profile and credential changes -----------------------------------------------

    @handles(User.Updated)
    def updated(self, tx: Connection, e: User.Updated) -> None:
        user_id = object_id_of(e.originator_id)
        t = self.t.users
        row = tx.execute(select(t.c.profile).where(t.c.id == user_id).with_for_update()).first()
        if row is None:
            return
        profile = {**(row.profile or {}), "authVersion": e.auth_version}
        values: dict[str, Any] = {}
        for key, value in e.changes.items():
            if key == "name":
                values["name"] = value or None
            elif key in ("disabled", "suspended"):
                values[key] = bool(value)
            elif key == "tags":
                values["tags"] = value
                tx.execute(delete(self.t.user_tags).where(self.t.user_tags.c.user_id == user_id))
                tags = sorted({tag.lower() for tag in value})
                if tags:
                    tx.execute(insert(self.t.user_tags), [{"user_id": user_id, "tag": tag} for tag in tags])
            else:
                profile[key] = value
                if key == "targets":
                    values["targets"] = "\n".join(t["value"] for t in value)
        tx.execute(update(t).where(t.c.id == user_id).values(profile=profile, **values))

    @handles(User.PasswordChanged)
    def password_changed(self, tx: Connection, e: User.PasswordChanged) -> None:
        user_id = object_id_of(e.originator_id)
        t = self.t.users
        row = tx.execute(select(t.c.profile).where(t.c.id == user_id).with_for_update()).first()
        if row is None:
            return
        profile = {**(row.profile or {}), "authVersion": e.auth_version, "requirePasswordChange": False}
        profile.pop("tempPassword", None)
        tx.execute(update(t).where(t.c.id == user_id).values(password_hash=e.password_hash, profile=profile))

    @handles(User.Restored)
    def restored(self, tx: Connection, e: User.Restored) -> None:
        a = e.account
        user_id = object_id_of(e.originator_id)
        targets = [t["value"] for t in a["profile"].get("targets", [])]
        tx.execute(
            insert(self.t.users).values(
                id=user_id,
                username=a["username"],
                unameview=a["unameview"],
                name=a["name"] or None,
                address=e.main_address,
                password_hash=a["password_hash"],
                tags=a["tags"],
                targets="\n".join(targets),
                profile=a["profile"],
                storage_used=0,
                activated=True,
                disabled=bool(a["disabled"]),
                suspended=bool(a["suspended"]),
                created=a["created_at"],
            )
        )
        tags = sorted({tag.lower() for tag in a["tags"]})
        if tags:
            tx.execute(insert(self.t.user_tags), [{"user_id": user_id, "tag": tag} for tag in tags])

    @handles(User.MainAddressChanged)
    def main_address_changed(self, tx: Connection, e: User.MainAddressChanged) -> None:
        t = self.t.users
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(address=e.address))

    @handles(User.PasswordRehashed)
    def password_rehashed(self, tx: Connection, e: User.PasswordRehashed) -> None:
        t = self.t.users
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(password_hash=e.password_hash))

    @handles(User.PasswordReset)
    def password_reset(self, tx: Connection, e: User.PasswordReset) -> None:
        user_id = object_id_of(e.originator_id)
        t = self.t.users
        row = tx.execute(select(t.c.profile).where(t.c.id == user_id).with_for_update()).first()
        if row is None:
            return
        temp = {"created": e.created_at.isoformat(), "validAfter": e.valid_after.isoformat()}
        tx.execute(update(t).where(t.c.id == user_id).values(profile={**(row.profile or {}), "tempPassword": temp}))

    # -- mail store: storageUsed follows the messages appended and removed ---------------------

    @handles(Mailbox.MessagesAppended)
    def messages_appended(self, tx: Connection, e: Any) -> None:
        self._add_storage(tx, e.user_id, sum(int(m["size"]) for m in e.messages))

    @handles(Mailbox.MessagesRemoved)
    def messages_removed(self, tx: Connection, e: Any) -> None:
        # A move is a removal here and an append there: the two cancel out.
        self._add_storage(tx, e.user_id, -sum(int(r["size"]) for r in e.removed))

    @handles(User.StorageRecounted)
    def storage_recounted(self, tx: Connection, e: User.StorageRecounted) -> None:
        t = self.t.users
        tx.execute(update(t).where(t.c.id == object_id_of(e.originator_id)).values(storage_used=e.storage_used))

    # -- the autoreply switch shows on the account (WildDuck keeps `autoreply` on the user) -------

    @handles(Autoreply.Set, Autoreply.Cleared)
    def autoreply_switched(self, tx: Connection, e: Any) -> None:
        t = self.t.users
        row = tx.execute(select(t.c.profile).where(t.c.id == e.user_id).with_for_update()).first()
        if row is None:
            return
        status = bool((getattr(e, "settings", None) or {}).get("status"))
        if bool((row.profile or {}).get("autoreply")) != status:
            tx.execute(
                update(t).where(t.c.id == e.user_id).values(profile={**(row.profile or {}), "autoreply": status})
            )

    def _add_storage(self, tx: Connection, user_id: str, delta: int) -> None:
        if delta:

            def build(t: Any) -> Any:  # on every upload and removal: built once
                c = t.users.c
                added = c.storage_used + bindparam("delta")
                return update(t.users).where(c.id == bindparam("user")).values(storage_used=added)

            self.prepared("add storage", build).run(tx, {"user": user_id, "delta": delta})


# -- queries ----------------------------------------------------------------------------------


_USER_BY_ID = Prepared(select(users).where(users.c.id == bindparam("user")))  # every request of an account


def get_user(conn: Connection, user_id: str) -> dict[str, Any] | None:
    return _USER_BY_ID.first(conn, {"user": user_id})


_USER_AND_SETTINGS: dict[str, Prepared] = {}


def user_and_settings_read(conn: Connection | Engine, user_id: str) -> tuple[Prepared, dict[str, Any]]:
    """The select of a user's row with every administrator setting (`user_and_settings_of` reads its rows),
    to send with others (`store.prepared.read_together`)."""
    from chainmail.projections.settings import all_settings_column

    query = _USER_AND_SETTINGS.get(conn.dialect.name)
    if query is None:  # built once per dialect: the hottest read of the API
        query = Prepared(
            select(users, all_settings_column(conn).label("_settings")).where(users.c.id == bindparam("user"))
        )
        _USER_AND_SETTINGS[conn.dialect.name] = query
    return query, {"user": user_id}


def user_and_settings_of(rows: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The user's row (None: no such user) and the settings {key: value}, from what that select read."""
    from chainmail.projections.settings import from_all_settings

    if not rows:
        return None, {}
    found = rows[0]  # a row of its own (`Prepared.rows`): the settings column is taken out of it
    return found, from_all_settings(found.pop("_settings"))


def get_user_and_settings(conn: Connection, user_id: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """A user's row and every administrator setting, in one round trip (what `GET /users/:id` shows)."""
    query, params = user_and_settings_read(conn, user_id)
    return user_and_settings_of(query.rows(conn, params))


def resolve_username(conn: Connection, unameview: str) -> str | None:
    return conn.execute(select(users.c.id).where(users.c.unameview == unameview)).scalar_one_or_none()


@dataclass(frozen=True)
class UserFilter:
    query: str | None = None
    forward: str | None = None
    tags: tuple[str, ...] = ()  # at least one of these
    required_tags: tuple[str, ...] = ()  # all of these
    only_user: str | None = None  # listing as a user token: own account only


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(f: UserFilter) -> list[Any]:
    clauses: list[Any] = []
    if f.query:
        clauses.append(
            or_(
                users.c.address.like(_like(f.query), escape="\\"),
                users.c.unameview.like(_like(uview(f.query)), escape="\\"),
            )
        )
    if f.forward:
        clauses.append(users.c.targets.like(_like(f.forward), escape="\\"))
    if f.tags:
        clauses.append(
            exists().where(user_tags.c.user_id == users.c.id, user_tags.c.tag.in_([t.lower() for t in f.tags]))
        )
    for tag in f.required_tags:
        clauses.append(exists().where(user_tags.c.user_id == users.c.id, user_tags.c.tag == tag.lower()))
    if f.only_user is not None:
        clauses.append(users.c.id == f.only_user)
    return clauses


def count_users(conn: Connection, f: UserFilter) -> int:
    return int(conn.execute(select(func.count()).select_from(users).where(*_where(f))).scalar_one())


def list_users(conn: Connection, f: UserFilter, *, limit: int, after: Boundary | None, before: Boundary | None) -> Page:
    return keyset_page(conn, select(users).where(*_where(f)), users.c.id, limit=limit, after=after, before=before)


def storage_shown(conn: Connection) -> dict[str, int]:
    """Every live account's storage figure as the read model shows it."""
    return {row.id: int(row.storage_used or 0) for row in conn.execute(select(users.c.id, users.c.storage_used))}
