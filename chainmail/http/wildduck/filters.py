"""WildDuck's filter routes: a user's message filters (query and action), and the admin list of all."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlparse

import falcon
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, func, select

from chainmail.http.auth import listing_scope, require
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import JoiBool, Number, ObjectIdParam, WildDuckInput, WildDuckListing, parse
from chainmail.http.validation import text as max_text
from chainmail.http.wildduck.fields import MetaData, Target, metadata_object
from chainmail.http.wire import js_iso
from chainmail.mail.store import MailStore, user_not_found
from chainmail.projections import mailboxes as mailboxes_model
from chainmail.projections import settings as settings_model
from chainmail.projections import users as users_model
from chainmail.projections.paging import keyset_page
from chainmail.projections.userdata import filters, user_filters
from chainmail.system import System


class FilterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: max_text(255) = Field(default=None, alias="from")
    to: max_text(255) = None
    subject: max_text(255) = None
    listId: max_text(255) = None
    text: max_text(255) = None
    ha: JoiBool = None
    size: Number | None = None


class FilterAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seen: JoiBool = None
    flag: JoiBool = None
    delete: JoiBool = None
    spam: JoiBool = None
    mailbox: ObjectIdParam | None = None
    targets: list[Target] | None = None


class CreateFilter(WildDuckInput):
    user: ObjectIdParam
    name: Annotated[str, Field(max_length=255)] | None = None
    query: FilterQuery = FilterQuery()
    action: FilterAction = FilterAction()
    disabled: JoiBool = False
    metaData: MetaData | None = None


class UpdateFilter(WildDuckInput):
    user: ObjectIdParam
    filter: ObjectIdParam
    name: Annotated[str, Field(max_length=255)] | None = None
    query: FilterQuery | None = None
    action: FilterAction | None = None
    disabled: JoiBool = None
    metaData: MetaData | None = None


class FilterPath(WildDuckInput):
    user: ObjectIdParam
    filter: ObjectIdParam


class ListUserFilters(WildDuckInput):
    user: ObjectIdParam
    metaData: JoiBool = None


class ListAllFilters(WildDuckListing):
    forward: max_text(255) = None
    metaData: JoiBool = None


def _query(q: FilterQuery) -> dict[str, Any]:
    raw = q.model_dump(by_alias=True, exclude_none=True)
    return {k: " ".join(v.split()) if isinstance(v, str) else v for k, v in raw.items()}


def _targets(values: list[str]) -> list[dict[str, str]]:
    result = []
    for value in values:
        lowered = value.lower()
        if lowered.startswith(("smtp:", "smtps:")):
            kind = "relay"
        elif lowered.startswith(("http:", "https:")):
            kind = "http"
        else:
            kind = "mail"
        result.append({"type": kind, "value": value})
    return result


def descriptions(row: dict[str, Any], paths: dict[str, str]) -> tuple[list[list[Any]], list[list[Any]]]:
    """`getFilterStrings`: the human-readable query and action lists of the filter listings."""
    q, a = row["query"], row["action"]
    query: list[list[Any]] = [[key, f"({q[key]})"] for key in ("from", "to", "subject", "listId") if q.get(key)]
    if q.get("ha") is True:
        query.append(["has attachment"])
    if q.get("text"):
        query.append([False, f'"{q["text"]}"'])
    if q.get("size"):
        query.append(["larger" if q["size"] > 0 else "smaller", abs(q["size"])])
    action: list[list[Any]] = []
    words = {
        "seen": ("mark as read", "do not mark as read"),
        "flag": ("flag it", "do not flag it"),
        "spam": ("mark it as spam", "do not mark it as spam"),
        "delete": ("delete it", "do not delete it"),
    }
    for key, value in a.items():
        if key in words:
            action.append([words[key][0] if value else words[key][1]])
        elif key == "mailbox":
            action.append(["move to folder", f'"{paths[value]}"' if value in paths else value])
        elif key == "targets" and value:
            shown = [urlparse(t["value"]).hostname or t["value"] if t["type"] == "http" else t["value"] for t in value]
            action.append(["forward to", ", ".join(shown)])
    return query, action


def check_mailbox(system: System, user_id: str, action: dict[str, Any]) -> None:
    if action.get("mailbox"):
        with system.engine.connect() as conn:
            if mailboxes_model.get_mailbox(conn, user_id, action["mailbox"]) is None:
                raise WildDuckError(404, "NoSuchMailbox", "This mailbox does not exist")


class UserFiltersResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(ListUserFilters, req.context.params)
        grant = require(req.context.principal, "read", "filters", params.user)
        with self.system.engine.connect() as conn:
            allowed = _allowed_filters(conn, params.user)
            rows = user_filters(conn, params.user)
            paths = {m["id"]: m["path"] for m in mailboxes_model.user_mailboxes(conn, params.user)}
        results = []
        for row in rows:
            query, action = descriptions(row, paths)
            item: dict[str, Any] = {
                "id": row["id"],
                "name": row["name"],
                "query": query,
                "action": action,
                "disabled": bool(row["disabled"]),
                "created": js_iso(row["created"]),
            }
            if params.metaData and row["meta_data"]:
                item["metaData"] = metadata_object(row["meta_data"])
            results.append(grant.filter(item))
        resp.media = {"success": True, "limits": {"allowed": allowed, "used": len(rows)}, "results": results}

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(CreateFilter, req.context.params)
        require(req.context.principal, "create", "filters", params.user)
        with self.system.engine.connect() as conn:  # refused early, in WildDuck's order; the turn decides a race
            allowed = _allowed_filters(conn, params.user)
            if len(user_filters(conn, params.user)) >= allowed:
                raise WildDuckError(403, "TooMany", "Maximum filters limit reached", allowed=allowed)
        action = params.action.model_dump(exclude_none=True)
        if "targets" in action:
            action["targets"] = _targets(action["targets"])
        check_mailbox(self.system, params.user, action)
        filter_id = MailStore(self.system).create_filter(
            params.user, params.name or "", _query(params.query), action, params.disabled is True, params.metaData
        )
        resp.media = {"success": True, "id": filter_id}


class UserFilterResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def _row(self, user_id: str, filter_id: str) -> dict[str, Any]:
        with self.system.engine.connect() as conn:
            row = conn.execute(select(filters).where(filters.c.id == filter_id, filters.c.user_id == user_id)).first()
        if row is None:
            raise WildDuckError(404, "FilterNotFound", "This filter does not exist")
        return dict(row._mapping)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str, filter: str) -> None:
        params = parse(FilterPath, req.context.params)
        grant = require(req.context.principal, "read", "filters", params.user)
        row = self._row(params.user, params.filter)
        action = dict(row["action"])
        if "targets" in action:
            action["targets"] = [t["value"] for t in action["targets"]]
        body: dict[str, Any] = {
            "success": True,
            "id": row["id"],
            "name": row["name"],
            "query": dict(row["query"]),
            "action": action,
            "disabled": bool(row["disabled"]),
            "created": js_iso(row["created"]),
        }
        if row["meta_data"]:
            body["metaData"] = metadata_object(row["meta_data"])
        resp.media = grant.filter(body)

    def on_put(self, req: falcon.Request, resp: falcon.Response, user: str, filter: str) -> None:
        params = parse(UpdateFilter, req.context.params)
        require(req.context.principal, "update", "filters", params.user)
        self._row(params.user, params.filter)
        changes: dict[str, Any] = {}
        if params.name is not None:
            changes["name"] = params.name
        if params.query is not None:
            changes["query"] = _query(params.query)
        if params.action is not None:
            action = params.action.model_dump(exclude_none=True)
            if "targets" in action:
                action["targets"] = _targets(action["targets"])
            check_mailbox(self.system, params.user, action)
            changes["action"] = action
        if params.disabled is not None:
            changes["disabled"] = params.disabled
        if params.metaData is not None:
            changes["meta_data"] = params.metaData
        self.system.mail.update_filter(params.user, params.filter, changes)
        resp.media = {"success": True}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str, filter: str) -> None:
        params = parse(FilterPath, req.context.params)
        require(req.context.principal, "delete", "filters", params.user)
        self._row(params.user, params.filter)
        self.system.mail.delete_filter(params.user, params.filter)
        resp.media = {"success": True}


class AllFiltersResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = parse(ListAllFilters, req.context.params)
        grant, only_user = listing_scope(req.context.principal, "filters")
        where = []
        if only_user is not None:
            where.append(filters.c.user_id == only_user)
        if params.forward:
            escaped = params.forward.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(func.lower(filters.c.targets).like(f"%{escaped}%", escape="\\"))
        after, before, number = page_request(params.next, params.previous)
        with self.system.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(filters).where(*where)).scalar_one())
            page = keyset_page(
                conn, select(filters).where(*where), filters.c.id, limit=int(params.limit), after=after, before=before
            )
        results = []
        for r in page.rows:
            row = dict(r._mapping)
            query, action = descriptions(row, {})
            item: dict[str, Any] = {
                "id": row["id"],
                "user": row["user_id"],
                "name": row["name"],
                "query": query,
                "action": action,
                "disabled": bool(row["disabled"]),
                "created": js_iso(row["created"]),
                "targets": [t["value"] for t in row["action"].get("targets") or []],
            }
            if params.metaData and row["meta_data"]:
                item["metaData"] = metadata_object(row["meta_data"])
            results.append(grant.filter(item))
        resp.media = {"success": True, "total": total, **page_fields(page, number), "results": results}


def add_routes(api: Router, system: System) -> None:
    api.add("/filters", AllFiltersResource(system))
    api.add("/users/{user}/filters", UserFiltersResource(system))
    api.add("/users/{user}/filters/{filter}", UserFilterResource(system))


def _allowed_filters(conn: Connection, user_id: str) -> int:
    """The account's filter limit (its own `filters`, else `const:max:filters`); NoSuchUser without one."""
    account, custom = users_model.get_user_and_settings(conn, user_id)
    if account is None:
        raise user_not_found()
    return settings_model.account_limit(account["profile"], "filters", custom, "const:max:filters")
