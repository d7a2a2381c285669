"""WildDuck's mailbox routes: list, create, get (or resolve by path), update and delete a user's folders."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

import falcon
from pydantic import AfterValidator, BeforeValidator, Field

from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.router import Router
from chainmail.http.validation import JoiBool, Number, ObjectIdParam, WildDuckInput, joi, parse
from chainmail.mail.store import MailStore
from chainmail.projections import mailboxes as mailboxes_model
from chainmail.projections import messages as messages_model
from chainmail.system import System

MAX_SUB_MAILBOXES = 128
MAX_MAILBOX_NAME_LENGTH = 512


def _path_rules(value: str | None) -> str | None:
    if value is None:
        return None
    if "//" in value or value.endswith("/"):
        raise joi(f'with value "{value}" matches the inverted pattern: /\\/{{2,}}|\\/$/')
    return value


def check_path_limits(params: dict[str, Any]) -> None:
    """Depth and part length, in the words of WildDuck's custom Joi validator (no field label)."""
    value = params.get("path")
    if not isinstance(value, str):
        return
    parts = value.split("/")
    message = None
    if len(parts) > MAX_SUB_MAILBOXES:
        message = f"The mailbox path cannot be more than {MAX_SUB_MAILBOXES} levels deep"
    elif any(len(part) > MAX_MAILBOX_NAME_LENGTH for part in parts):
        message = f"Any part of the mailbox path cannot be longer than {MAX_MAILBOX_NAME_LENGTH} chars long"
    if message:
        raise WildDuckError(400, "InputValidationError", message, details={"path": message})


def _no_slash_rules(value: str | None) -> str | None:
    if value is not None and ("//" in value or value.endswith("/")):
        raise joi(f'with value "{value}" matches the inverted pattern: /\\/{{2,}}|\\/$/')
    return value


def _not_empty(value: str | None) -> str | None:
    if value == "":  # Joi.string() refuses the empty string (`?path=`)
        raise joi("is not allowed to be empty")
    return value


def _string(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise joi("must be a string")
    return value


MailboxPathInput = Annotated[
    Annotated[str, Field(max_length=65663)] | None,
    BeforeValidator(_string),
    AfterValidator(_path_rules),
]
NonNegative = Annotated[Number, Field(ge=0)]


def normalize_path(path: str) -> str:
    """WildDuck's normalizeMailbox: no leading or trailing slash, INBOX in capitals."""
    if path.startswith("/"):
        path = path[1:]
    if path.endswith("/"):
        path = path[:-1]
    parts = path.split("/")
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return "/".join(parts)


def collation_key(path: str) -> tuple[Any, ...]:
    """An approximation of ICU's root collation (JavaScript `localeCompare`): punctuation before digits
    before letters, letters compared without accents and case first, then accents, then lower before upper."""

    def primary(ch: str) -> tuple[int, str]:
        base = unicodedata.normalize("NFD", ch)[0]
        if base.isspace():
            return (0, base)
        if base.isdigit():
            return (2, base)
        if base.isalpha():
            return (3, base.casefold())
        return (1, base)

    chars = list(path)
    return (
        [primary(ch) for ch in chars],
        [unicodedata.normalize("NFD", ch)[1:] for ch in chars],
        [0 if ch == ch.lower() else 1 for ch in chars],
        path,
    )


def sort_mailboxes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        path = row["path"]
        if path == "INBOX":
            return (0,)
        return (1, 0 if path.startswith("INBOX/") else 1, 0 if row["subscribed"] else 1, collation_key(path))

    return sorted(rows, key=key)


def mailbox_view(row: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row["id"],
        "name": row["path"].split("/")[-1],
        "path": row["path"],
    }
    if row["special_use"]:
        view["specialUse"] = row["special_use"]
    view.update(
        modifyIndex=int(row["modify_index"]),
        subscribed=bool(row["subscribed"]),
        hidden=bool(row["hidden"]),
        encryptMessages=bool(row["encrypt_messages"]),
    )
    if row["retention"]:
        view["retention"] = int(row["retention"])
    return view


class ListMailboxes(WildDuckInput):
    user: ObjectIdParam
    specialUse: JoiBool = False
    showHidden: JoiBool = False
    counters: JoiBool = False
    sizes: JoiBool = False


class CreateMailbox(WildDuckInput):
    user: ObjectIdParam
    path: Annotated[str, BeforeValidator(_string), Field(max_length=65663), AfterValidator(_path_rules)]
    hidden: JoiBool = False
    retention: NonNegative | None = None
    encryptMessages: JoiBool = False


class GetMailbox(WildDuckInput):
    user: ObjectIdParam
    mailbox: str
    path: Annotated[
        str | None, BeforeValidator(_string), AfterValidator(_not_empty), AfterValidator(_no_slash_rules)
    ] = None


class UpdateMailbox(WildDuckInput):
    user: ObjectIdParam
    mailbox: ObjectIdParam
    path: MailboxPathInput = None
    retention: NonNegative | None = None
    subscribed: JoiBool = None
    encryptMessages: JoiBool = None
    hidden: JoiBool = None


class MailboxPath(WildDuckInput):
    user: ObjectIdParam
    mailbox: ObjectIdParam


class MailboxesResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(ListMailboxes, req.context.params)
        require(req.context.principal, "read", "mailboxes", params.user)
        self.store.user(params.user)
        with self.system.engine.connect() as conn:
            rows = mailboxes_model.user_mailboxes(conn, params.user)
            if params.specialUse:
                rows = [r for r in rows if r["path"] == "INBOX" or r["special_use"]]
            if not params.showHidden:
                rows = [r for r in rows if not r["hidden"]]
            rows = sort_mailboxes(rows)
            counters = (
                messages_model.mailbox_counters(conn, [r["id"] for r in rows])
                if params.counters or params.sizes
                else {}
            )
        results = []
        for row in rows:
            view = mailbox_view(row)
            if params.sizes:
                view["size"] = counters[row["id"]]["size"]
            if params.counters:
                view["total"] = counters[row["id"]]["total"]
                view["unseen"] = counters[row["id"]]["unseen"]
            results.append(view)
        resp.media = {"success": True, "results": results}

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(CreateMailbox, req.context.params)
        check_path_limits(req.context.params)
        require(req.context.principal, "create", "mailboxes", params.user)
        path = normalize_path(params.path)
        if not path:
            raise WildDuckError(
                400,
                "InputValidationError",
                '"path" is not allowed to be empty',
                details={"path": '"path" is not allowed to be empty'},
            )
        mailbox_id = self.store.create_mailbox(
            params.user,
            path,
            hidden=params.hidden is True,
            retention=int(params.retention or 0),
            encrypt_messages=params.encryptMessages is True,
        )
        resp.media = {"success": True, "id": mailbox_id}


class MailboxResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str, mailbox: str) -> None:
        params = parse(GetMailbox, req.context.params)
        if params.mailbox != "resolve":
            parse(MailboxPath, {"user": params.user, "mailbox": params.mailbox})
        require(req.context.principal, "read", "mailboxes", params.user)
        self.store.user(params.user)
        with self.system.engine.connect() as conn:
            if params.mailbox == "resolve":
                row = mailboxes_model.mailbox_by_path(conn, params.user, params.path or "")
            else:
                row = mailboxes_model.get_mailbox(conn, params.user, params.mailbox.lower())
            if row is None:
                raise WildDuckError(404, "NoSuchMailbox", "This mailbox does not exist")
            counters = messages_model.mailbox_counters(conn, [row["id"]])[row["id"]]
        view = mailbox_view(row)
        view.pop("retention", None)
        if row["retention"]:
            view["retention"] = int(row["retention"])
        resp.media = {"success": True, **view, "total": counters["total"], "unseen": counters["unseen"]}

    def on_put(self, req: falcon.Request, resp: falcon.Response, user: str, mailbox: str) -> None:
        params = parse(UpdateMailbox, req.context.params)
        check_path_limits(req.context.params)
        require(req.context.principal, "update", "mailboxes", params.user)
        given = params.model_dump(exclude_none=True, exclude={"user", "mailbox", "sess", "ip"})
        if not given:
            raise WildDuckError(400, "NothingChanged", "Nothing was changed")
        changes: dict[str, Any] = {}
        for key, column in (
            ("subscribed", "subscribed"),
            ("hidden", "hidden"),
            ("encryptMessages", "encrypt_messages"),
        ):
            if key in given:
                changes[column] = bool(given[key])
        if "retention" in given:
            changes["retention"] = int(given["retention"])
        path = normalize_path(params.path) if params.path is not None else None
        self.store.update_mailbox(params.user, params.mailbox, path or None, changes)
        resp.media = {"success": True}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str, mailbox: str) -> None:
        params = parse(MailboxPath, req.context.params)
        require(req.context.principal, "delete", "mailboxes", params.user)
        self.store.delete_mailbox(params.user, params.mailbox)
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/mailboxes", MailboxesResource(system))
    api.add("/users/{user}/mailboxes/{mailbox}", MailboxResource(system))
