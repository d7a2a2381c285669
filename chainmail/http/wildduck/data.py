"""WildDuck's account data export and import: one JSON object a line (a header, then each account with its
addresses and folders, followed by its messages one a line). WildDuck leaves mail out of its dump;
chainmail moves it too, so an imported account arrives with its messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import falcon
from pydantic import BeforeValidator, Field
from sqlalchemy import select

from chainmail.http.auth import require
from chainmail.http.bodies import body_stream, loads_json
from chainmail.http.errors import WildDuckError
from chainmail.http.router import Router
from chainmail.http.validation import ObjectIdParam, WildDuckInput, parse
from chainmail.http.wire import js_iso
from chainmail.mail.portability import MailImport, folder_entries, message_entries
from chainmail.mail.store import MailStore
from chainmail.projections import addresses as addresses_model
from chainmail.projections import users as users_model
from chainmail.system import System

EXPORT_TYPE = "chainmail_data_export"
MAX_LINE_BYTES = 128 * 1024 * 1024  # one message line: a 64 MiB message in base64 and its facts


class ExportBody(WildDuckInput):
    users: list[ObjectIdParam] | None = None
    tags: (
        list[
            Annotated[
                str, BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v), Field(max_length=1024)
            ]
        ]
        | None
    ) = None


def _plain(value: Any) -> Any:
    return js_iso(value) if isinstance(value, datetime) else value


def export_lines(system: System, users: list[str] | None, tags: list[str] | None) -> Iterator[bytes]:
    yield (json.dumps({"type": EXPORT_TYPE, "version": 1}) + "\n").encode()
    query = select(users_model.users).order_by(users_model.users.c.id)
    if users:
        query = query.where(users_model.users.c.id.in_(users))
    if tags:
        tagged = select(users_model.user_tags.c.user_id).where(users_model.user_tags.c.tag.in_([t for t in tags if t]))
        query = query.where(users_model.users.c.id.in_(tagged))
    with system.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            account = {k: _plain(v) for k, v in row.items() if k not in ("targets", "storage_used", "unameview")}
            addresses = [
                {
                    k: _plain(v)
                    for k, v in a.items()
                    if k in ("id", "address", "name", "main", "tags", "created", "profile")
                }
                for a in addresses_model.user_addresses(conn, row["id"])
            ]
            folders = folder_entries(conn, row["id"])
            line = {"collection": "users", "entry": account, "addresses": addresses, "mailboxes": folders}
            yield (json.dumps(line) + "\n").encode()
            for message in message_entries(conn, row["id"]):
                yield (json.dumps({"collection": "messages", "user": row["id"], "entry": message}) + "\n").encode()


class ExportResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(ExportBody, req.context.params)
        require(req.context.principal, "create", "export")
        resp.content_type = "application/octet-stream"
        resp.stream = export_lines(self.system, body.users, body.tags)  # messages make it big: streamed


class ImportResource:
    raw_body = True  # the export file is the body

    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        require(req.context.principal, "create", "import")
        lines = import_lines(body_stream(req))
        first = next(lines, None)
        try:
            header = loads_json(first) if first is not None else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("type") != EXPORT_TYPE:
            raise WildDuckError(400, "INVALID_DATA", "Invalid export file")
        result = {"entries": 0, "imported": 0, "failed": 0, "existing": 0}
        mail = MailImport(MailStore(self.system))
        outcomes: dict[str, str] = {}  # account id -> how its account line went
        for line in lines:
            result["entries"] += 1
            result["failed" if line is None else self._entry(line, mail, outcomes)] += 1
        resp.media = {"success": True, **result}

    def _entry(self, line: bytes, mail: MailImport, outcomes: dict[str, str]) -> str:
        try:
            item = loads_json(line)
            entry = item["entry"]
            if not isinstance(item, dict) or not isinstance(entry, dict):
                raise ValueError("not an entry")
        except (ValueError, KeyError, TypeError):
            return "failed"
        if item.get("collection") == "messages":
            user = str(item.get("user"))
            if outcomes.get(user) == "existing":
                return "existing"  # the account was here already: its mail is too
            return "imported" if mail.message(user, entry) else "failed"
        if item.get("collection") != "users":
            return "failed"
        addresses, folders = item.get("addresses") or [], item.get("mailboxes") or []
        if not isinstance(addresses, list) or not isinstance(folders, list):
            return "failed"
        try:
            outcome = self.system.mail.import_account(entry, addresses)
        except (ValueError, KeyError, TypeError, AttributeError):  # a field of the wrong type: nothing was saved
            return "failed"
        outcomes[str(entry.get("id"))] = outcome
        if outcome == "imported":
            mail.folders(str(entry["id"]), [f for f in folders if isinstance(f, dict)])
        return outcome


def import_lines(stream: Any, chunk: int = 1 << 20) -> Iterator[bytes | None]:
    """The non-empty lines of an import body, read as they arrive; None stands for a line longer than
    MAX_LINE_BYTES, which is skipped without being held in memory."""
    parts: list[bytes] = []  # the line being read, in the chunks it came in
    size, skipping = 0, False
    while data := stream.read(chunk):
        pieces = data.split(b"\n")
        if len(pieces) > 1:
            complete = [b"".join([*parts, pieces[0]]), *pieces[1:-1]]
            parts, size = [], 0
            for line in complete:
                if skipping:
                    skipping = False  # the end of the long line
                elif line.strip():
                    yield line
        if not skipping:
            parts.append(pieces[-1])
            size += len(pieces[-1])
            if size > MAX_LINE_BYTES:
                parts, size, skipping = [], 0, True
                yield None
    if parts and not skipping and b"".join(parts).strip():
        yield b"".join(parts)


def add_routes(api: Router, system: System) -> None:
    api.add("/data/export", ExportResource(system))
    api.add("/data/import", ImportResource(system))
