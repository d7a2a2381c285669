"""WildDuck's search routes (GET lists matches, POST applies an action to them) and the address register."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime
from typing import Annotated, Any

import falcon
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, and_, func, or_, select

from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import (
    JoiBool,
    JoiDate,
    Number,
    ObjectIdParam,
    WildDuckInput,
    WildDuckListing,
    joi,
    parse,
    text,
)
from chainmail.http.wildduck.messages import RANGE, header_names, listing_item, parse_range
from chainmail.mail.store import MailStore
from chainmail.projections import messages as messages_model
from chainmail.projections.mailboxes import mailboxes
from chainmail.projections.messages import messages, register_id
from chainmail.projections.paging import keyset_page
from chainmail.system import System


def _range(value: Any) -> Any:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not RANGE.match(value.strip()):
        raise joi(f'with value "{value}" fails to match the required pattern: /^\\d+(,\\d+)*$|^\\d+:(\\d+|\\*)$/i')
    return value.strip()


class OrTerms(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: text(255) = None
    from_: text(1024) = Field(default=None, alias="from")
    to: text(1024) = None
    subject: text(1024) = None


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    moveTo: ObjectIdParam | None = None
    seen: JoiBool = None
    flagged: JoiBool = None
    delete: JoiBool = False

    @model_validator(mode="after")
    def _delete_alone(self) -> Action:
        if self.delete and (self.moveTo or self.seen is not None or self.flagged is not None):
            raise ValueError("must not combine delete with other actions")
        return self


class SearchTerms(BaseModel):
    user: ObjectIdParam
    q: text(1024) = None
    mailbox: ObjectIdParam | None = None
    id: Annotated[str | None, BeforeValidator(_range)] = None
    thread: ObjectIdParam | None = None
    or_: OrTerms | None = Field(default=None, alias="or")
    query: text(255) = None
    datestart: JoiDate = None
    dateend: JoiDate = None
    from_: text(1024) = Field(default=None, alias="from")
    to: text(1024) = None
    subject: text(1024) = None
    minSize: Number | None = None
    maxSize: Number | None = None
    attachments: JoiBool = None
    flagged: JoiBool = None
    unseen: JoiBool = None
    seen: JoiBool = None
    includeHeaders: text(1024) = None
    searchable: JoiBool = None


class SearchListing(SearchTerms, WildDuckListing):
    threadCounters: JoiBool = False
    order: Annotated[str | None, BeforeValidator(lambda v: None if v == "" else v)] = None

    @model_validator(mode="after")
    def _order(self) -> SearchListing:
        if self.order not in (None, "asc", "desc"):
            raise ValueError('"order" must be one of [asc, desc]')
        return self


class SearchApply(SearchTerms, WildDuckInput):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    action: Action


def _like(value: str) -> str:
    return "%" + value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(column: Any, value: str) -> ColumnElement[bool]:
    return func.lower(column).like(_like(value), escape="\\")


def _text(value: str) -> ColumnElement[bool]:
    """Every word somewhere in the subject, the people or the body."""
    words = [w for w in re.findall(r'"[^"]+"|\S+', value) if w.strip('"')]
    return and_(
        *[
            or_(
                _contains(messages.c.subject, w.strip('"')),
                _contains(messages.c.from_text, w.strip('"')),
                _contains(messages.c.to_text, w.strip('"')),
                _contains(messages.c.body, w.strip('"')),
            )
            for w in words
        ]
    )


def parse_q(q: str) -> dict[str, Any]:
    """The `q` mini-language: `from:x to:y subject:z has:attachment is:unread|read|flagged|unflagged`, rest is text."""
    terms: dict[str, Any] = {}
    rest = []
    for token in re.findall(r'\S+:"[^"]*"|"[^"]*"|\S+', q):
        key, _, value = token.partition(":")
        value = value.strip('"')
        key = key.lower()
        if key in ("from", "to", "subject") and value:
            terms[key] = value
        elif key == "has" and value == "attachment":
            terms["attachments"] = True
        elif key == "is" and value in ("unread", "unseen"):
            terms["unseen"] = True
        elif key == "is" and value in ("read", "seen"):
            terms["seen"] = True
        elif key == "is" and value == "flagged":
            terms["flagged"] = True
        elif key == "is" and value == "unflagged":
            terms["flagged"] = False
        else:
            rest.append(token)
    if rest:
        terms["query"] = " ".join(rest)
    return terms


def search_where(conn: Any, terms: SearchTerms) -> list[ColumnElement[bool]]:
    extra = parse_q(terms.q) if terms.q else {}
    where: list[ColumnElement[bool]] = [messages.c.user_id == terms.user]
    query = terms.query or extra.get("query")
    if query:
        where.append(_text(query))
    if terms.mailbox:
        where.append(messages.c.mailbox_id == terms.mailbox)
        if terms.id:
            uids, low, high = parse_range(terms.id)
            if uids is not None:
                where.append(messages.c.uid.in_(uids))
            else:
                where.append(messages.c.uid >= low)
                if high is not None:
                    where.append(messages.c.uid <= high)
    elif terms.searchable:
        hidden = select(mailboxes.c.id).where(
            mailboxes.c.user_id == terms.user, mailboxes.c.special_use.in_(["\\Junk", "\\Trash"])
        )
        where.append(messages.c.mailbox_id.not_in(hidden))
    if terms.thread:
        where.append(messages.c.thread == terms.thread)
    flagged = terms.flagged if terms.flagged is not None else extra.get("flagged")
    if flagged is not None:
        where.append(messages.c.flagged.is_(bool(flagged)))
    unseen = terms.unseen if terms.unseen is not None else extra.get("unseen")
    seen = terms.seen if terms.seen is not None else extra.get("seen")
    if unseen:
        where.append(messages.c.seen.is_(False))
    elif seen is not None:
        where.append(messages.c.seen.is_(bool(seen)))
    if terms.datestart:
        where.append(messages.c.idate >= terms.datestart)
    if terms.dateend:
        where.append(messages.c.idate <= terms.dateend)
    if terms.minSize is not None:
        where.append(messages.c.size >= terms.minSize)
    if terms.maxSize is not None:
        where.append(messages.c.size <= terms.maxSize)
    attachments = terms.attachments if terms.attachments is not None else extra.get("attachments")
    if attachments is not None:
        where.append(messages.c.has_attachments.is_(bool(attachments)))
    for column, value in (
        (messages.c.from_text, terms.from_ or extra.get("from")),
        (messages.c.to_text, terms.to or extra.get("to")),
        (messages.c.subject, terms.subject or extra.get("subject")),
    ):
        if value:
            where.append(_contains(column, value))
    if terms.or_ is not None:
        alternatives = []
        if terms.or_.query:
            alternatives.append(_text(terms.or_.query))
        if terms.or_.from_:
            alternatives.append(_contains(messages.c.from_text, terms.or_.from_))
        if terms.or_.to:
            alternatives.append(_contains(messages.c.to_text, terms.or_.to))
        if terms.or_.subject:
            alternatives.append(_contains(messages.c.subject, terms.or_.subject))
        if alternatives:
            where.append(or_(*alternatives))
    return where


class SearchResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(SearchListing, req.context.params)
        require(req.context.principal, "read", "messages", params.user)
        self.store.user(params.user)
        by_date = params.order is not None
        after, before, number = page_request(
            params.next, params.previous, sorted_by_id=not by_date, value_type=datetime
        )
        with self.system.engine.connect() as conn:
            where = search_where(conn, params)
            total = int(conn.execute(select(func.count()).select_from(messages).where(*where)).scalar_one())
            page = keyset_page(
                conn,
                select(messages).where(*where),
                messages.c.id,
                limit=int(params.limit),
                sort_column=messages.c.idate if by_date else None,
                ascending=params.order == "asc",
                after=after,
                before=before,
            )
            rows = [dict(r._mapping) for r in page.rows]
            counts = (
                messages_model.thread_counts(conn, params.user, [r["thread"] for r in rows])
                if params.threadCounters
                else None
            )
        headers = header_names(params.includeHeaders)
        resp.media = {
            "success": True,
            "query": params.query or params.q or "",
            "total": total,
            **page_fields(page, number, sorted_by_id=not by_date),
            "results": [listing_item(r, headers=headers, thread_counts=counts) for r in rows],
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(SearchApply, req.context.params)
        require(req.context.principal, "update", "messages", params.user)
        self.store.user(params.user)
        action = params.action
        if not (action.delete or action.moveTo or action.seen is not None or action.flagged is not None):
            raise WildDuckError(400, "InputValidationError", '"action" must contain at least one action')
        if action.moveTo:
            self.store.mailbox(params.user, action.moveTo)
        with self.system.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(messages).where(*search_where(conn, params)))]
        by_mailbox: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_mailbox[row["mailbox_id"]].append(row)
        flags = {k: bool(v) for k, v in (("seen", action.seen), ("flagged", action.flagged)) if v is not None}
        for mailbox_id, group in by_mailbox.items():
            if action.delete:
                self.store.delete_messages(params.user, mailbox_id, group)
            else:
                self.store.update_messages(params.user, mailbox_id, group, flags=flags, move_to=action.moveTo)
        task = self.system.mail.ids.object_id(self.system.mail.clock())
        # WildDuck schedules a background task; here the work is done when the answer comes.
        resp.media = {"success": True, "scheduled": task, "existing": False}


class AddressRegister(WildDuckInput):
    user: ObjectIdParam
    query: Annotated[str, Field(min_length=1, max_length=255)]
    limit: Annotated[Number, Field(ge=1, le=250)] = 100


class AddressRegisterResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(AddressRegister, req.context.params)
        require(req.context.principal, "read", "addresses", params.user)
        self.store.user(params.user)
        with self.system.engine.connect() as conn:
            rows = messages_model.register_lookup(conn, params.user, params.query, int(params.limit))
        resp.media = {
            "success": True,
            "results": [
                {"id": register_id(r["user_id"], r["addrview"]), "name": r["name"], "address": r["address"]}
                for r in rows
            ],
        }


class UpdateAddressRegister(WildDuckInput):
    user: ObjectIdParam
    id: ObjectIdParam
    disabled: JoiBool
    name: Annotated[str, Field(max_length=255)] | None = None


class AddressRegisterEntryResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_put(self, req: falcon.Request, resp: falcon.Response, user: str, id: str) -> None:
        params = parse(UpdateAddressRegister, req.context.params)
        if params.disabled is None:  # Joi's boolean().required() takes no empty string either
            message = '"disabled" must be a boolean'
            raise WildDuckError(400, "InputValidationError", message, details={"disabled": message})
        require(req.context.principal, "update", "addresses", params.user)
        self.store.user(params.user)
        with self.system.engine.connect() as conn:
            entry = messages_model.register_entry(conn, params.user, params.id)
        if entry is None:
            # WildDuck answers an id that is not one of the user's entries with a plain failure
            resp.media = {"success": False}
            return
        self.system.mail.update_register_entry(
            params.user, entry["addrview"], disabled=bool(params.disabled), name=params.name
        )
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/search", SearchResource(system))
    api.add("/users/{user}/addressregister", AddressRegisterResource(system))
    api.add("/users/{user}/addressregister/{id}", AddressRegisterEntryResource(system))
