"""WildDuck's account data export and import: one JSON object a line (a header, then accounts)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import falcon
from pydantic import BeforeValidator, Field
from sqlalchemy import select

from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.router import Router
from chainmail.http.validation import ObjectIdParam, WildDuckInput, parse
from chainmail.http.wire import js_iso
from chainmail.projections import addresses as addresses_model
from chainmail.projections import users as users_model
from chainmail.system import System

EXPORT_TYPE = "chainmail_data_export"
MAX_IMPORT_BYTES = 256 * 1024 * 1024


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
            yield (json.dumps({"collection": "users", "entry": account, "addresses": addresses}) + "\n").encode()


class ExportResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = parse(ExportBody, req.context.params)
        require(req.context.principal, "create", "export")
        resp.content_type = "application/octet-stream"
        resp.data = b"".join(export_lines(self.system, body.users, body.tags))


class ImportResource:
    raw_body = True  # the export file is the body

    def __init__(self, system: System) -> None:
        self.system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        require(req.context.principal, "create", "import")
        raw = req.bounded_stream.read(MAX_IMPORT_BYTES + 1)
        if len(raw) > MAX_IMPORT_BYTES:
            raise falcon.HTTPPayloadTooLarge()
        lines = [line for line in raw.splitlines() if line.strip()]
        try:
            header = json.loads(lines[0]) if lines else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("type") != EXPORT_TYPE:
            raise WildDuckError(400, "INVALID_DATA", "Invalid export file")
        result = {"entries": 0, "imported": 0, "failed": 0, "existing": 0}
        for line in lines[1:]:
            result["entries"] += 1
            try:
                item = json.loads(line)
                account, addresses = item["entry"], list(item.get("addresses") or [])
                if item.get("collection") != "users" or not isinstance(account, dict):
                    raise ValueError("not an account entry")
            except (ValueError, KeyError, TypeError):
                result["failed"] += 1
                continue
            result[self.system.mail.import_account(account, addresses)] += 1
        resp.media = {"success": True, **result}


def add_routes(api: Router, system: System) -> None:
    api.add("/data/export", ExportResource(system))
    api.add("/data/import", ImportResource(system))
