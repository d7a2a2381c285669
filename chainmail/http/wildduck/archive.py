"""WildDuck's archive routes: deleted messages stay listable and restorable for `const:archive:time`."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Annotated, Any, Literal

import falcon
from pydantic import BeforeValidator
from sqlalchemy import func, select

from chainmail.domain.bounds import SAFE_INTEGER_MAX
from chainmail.domain.errors import NotFound
from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import (
    ObjectIdParam,
    RequiredJoiDate,
    WildDuckInput,
    WildDuckListing,
    joi,
    parse,
    text,
)
from chainmail.http.wildduck.messages import header_names, listing_item
from chainmail.mail.store import MailStore
from chainmail.projections.messages import archived_messages
from chainmail.projections.paging import keyset_page
from chainmail.system import System

ARCHIVE_TIME = timedelta(days=25)  # WildDuck's const:archive:time default


def _archive_ref(value: Any) -> Any:
    """An archive entry id as listed (24 hex), or a message UID (a positive number)."""
    text_value = str(value).strip().lower() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if len(text_value) == 24 and all(c in "0123456789abcdef" for c in text_value):
        return text_value
    if text_value.isdigit() and int(text_value) >= 1:
        if int(text_value) > SAFE_INTEGER_MAX:  # as Joi refuses a number JavaScript cannot hold exactly
            raise joi("must be a safe number")
        return text_value
    raise joi("must be a number")


class ListArchived(WildDuckListing):
    user: ObjectIdParam
    order: Literal["asc", "desc"] = "desc"
    includeHeaders: text(1024) = None


class RestoreRange(WildDuckInput):
    user: ObjectIdParam
    start: RequiredJoiDate
    end: RequiredJoiDate


class RestoreOne(WildDuckInput):
    user: ObjectIdParam
    message: Annotated[str, BeforeValidator(_archive_ref)]
    mailbox: ObjectIdParam | None = None


def _fresh(store: MailStore) -> Any:
    return archived_messages.c.archived >= store.mail.clock() - ARCHIVE_TIME


def archived_view(row: dict[str, Any], headers: list[str]) -> dict[str, Any]:
    item = listing_item(row, headers=headers)
    item["id"] = row["id"]  # WildDuck lists an archived message by its archive id
    return item


class ArchivedMessagesResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(ListArchived, req.context.params)
        require(req.context.principal, "read", "messages", params.user)
        self.store.user(params.user)
        t = archived_messages
        where = [t.c.user_id == params.user, _fresh(self.store)]
        after, before, number = page_request(params.next, params.previous)
        with self.system.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one())
            page = keyset_page(
                conn,
                select(t).where(*where),
                t.c.id,
                limit=int(params.limit),
                ascending=params.order == "asc",
                after=after,
                before=before,
            )
        headers = header_names(params.includeHeaders)
        resp.media = {
            "success": True,
            "total": total,
            **page_fields(page, number),
            "results": [archived_view(dict(r._mapping), headers) for r in page.rows],
        }


class RestoreOneResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str, message: str) -> None:
        params = parse(RestoreOne, req.context.params)
        require(req.context.principal, "update", "messages", params.user)
        self.store.user(params.user)
        t = archived_messages
        query = select(t).where(t.c.user_id == params.user, _fresh(self.store))
        if len(params.message) == 24:
            query = query.where(t.c.id == params.message)
        else:
            query = query.where(t.c.uid == int(params.message)).order_by(t.c.archived.desc())
        with self.system.engine.connect() as conn:
            row = conn.execute(query.limit(1)).first()
        if row is None:
            raise WildDuckError(404, "MessageNotFound", "This message does not exist")
        stored = self.store.restore(params.user, dict(row._mapping), params.mailbox)
        resp.media = {"success": True, "mailbox": stored.mailbox, "id": stored.uid}


class RestoreRangeResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(RestoreRange, req.context.params)
        require(req.context.principal, "update", "messages", params.user)
        self.store.user(params.user)
        t = archived_messages
        with self.system.engine.connect() as conn:
            rows = conn.execute(
                select(t)
                .where(t.c.user_id == params.user, t.c.archived >= params.start, t.c.archived <= params.end)
                .where(_fresh(self.store))
                .order_by(t.c.archived, t.c.id)
            ).all()
        for row in rows:
            with contextlib.suppress(NotFound):  # restored by another request meanwhile
                self.store.restore(params.user, dict(row._mapping), None)
        # WildDuck answers with the id of a background task; the restore here is done when the answer comes.
        resp.media = {"success": True, "task": self.system.mail.ids.object_id(self.system.mail.clock())}


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/archived/messages", ArchivedMessagesResource(system))
    api.add("/users/{user}/archived/messages/{message}/restore", RestoreOneResource(system))
    api.add("/users/{user}/archived/restore", RestoreRangeResource(system))
