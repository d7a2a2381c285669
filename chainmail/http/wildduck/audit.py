"""WildDuck's audit routes: audit a user's messages over a time window and export them as mbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import falcon
from pydantic import BeforeValidator, field_validator
from sqlalchemy import func, select, union_all

from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.router import Router
from chainmail.http.validation import JoiDate, ObjectIdParam, WildDuckInput, joi, parse
from chainmail.http.wire import js_iso
from chainmail.mail.store import MailStore
from chainmail.projections.messages import archived_messages, messages, utc
from chainmail.projections.userdata import get_audit
from chainmail.system import System


def _false_or_date(value: Any) -> Any:
    return None if value in (False, "false") else value


class CreateAudit(WildDuckInput):
    user: ObjectIdParam
    start: Annotated[JoiDate, BeforeValidator(_false_or_date)] = None
    end: Annotated[JoiDate, BeforeValidator(_false_or_date)] = None
    expires: JoiDate

    @field_validator("expires")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime:
        if value is None:
            raise joi("is required")
        if value <= datetime.now(value.tzinfo):
            raise joi('must be greater than "now"')
        return value


class AuditPath(WildDuckInput):
    audit: ObjectIdParam


def window(user_id: str, start: datetime | None, end: datetime | None) -> Any:
    """The audited messages: live and archived ones of the user whose internal date is in the window."""
    parts = []
    for table in (messages, archived_messages):
        query = select(table.c.idate, table.c.blob, table.c.summary).where(table.c.user_id == user_id)
        if start is not None:
            query = query.where(table.c.idate >= start)
        if end is not None:
            query = query.where(table.c.idate <= end)
        parts.append(query)
    return union_all(*parts).subquery()


def mbox_entry(raw: bytes, sender: str, idate: datetime) -> bytes:
    """One mbox (mboxrd) entry: a `From ` line, the message with `From ` lines quoted, a blank line."""
    body = raw.replace(b"\r\n", b"\n")
    body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
    if not body.endswith(b"\n"):
        body += b"\n"
    stamp = idate.strftime("%a %b %d %H:%M:%S %Y")
    return f"From {sender or 'MAILER-DAEMON'} {stamp}\n".encode() + body + b"\n"


class AuditsResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = parse(CreateAudit, req.context.params)
        require(req.context.principal, "update", "audit")
        self.store.user(params.user)
        with self.system.engine.connect() as conn:
            copied = conn.execute(select(func.count()).select_from(window(params.user, params.start, params.end)))
            count = int(copied.scalar_one())
        assert params.expires is not None
        audit_id = self.system.mail.create_audit(params.user, params.start, params.end, params.expires, count)
        resp.media = {"success": True, "id": audit_id}


class AuditResource:
    def __init__(self, system: System) -> None:
        self.system = system

    def audit(self, req: falcon.Request) -> dict[str, Any]:
        params = parse(AuditPath, req.context.params)
        require(req.context.principal, "read", "audit")
        with self.system.engine.connect() as conn:
            row = get_audit(conn, params.audit)
        if row is None or utc(row["expires"]) <= self.system.mail.clock():  # type: ignore[operator]
            raise WildDuckError(404, "AuditNotFoundError", "Audit not found")
        return row

    def on_get(self, req: falcon.Request, resp: falcon.Response, audit: str) -> None:
        row = self.audit(req)
        resp.media = {
            "success": True,
            "id": row["id"],
            "user": row["user_id"],
            "start": js_iso(row["start"]) if row["start"] else False,
            "end": js_iso(row["end"]) if row["end"] else False,
            "expires": js_iso(row["expires"]),
            # The copy is made when the audit is created, so the import is always complete.
            "import": {"status": "imported", "failed": 0, "copied": int(row["copied"])},
        }


class AuditExportResource(AuditResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, audit: str) -> None:
        row = self.audit(req)
        resp.content_type = "application/octet-stream"
        resp.set_header("Content-Disposition", "attachment; filename=export.mbox")
        resp.stream = self.export(row)

    def export(self, row: dict[str, Any]) -> Iterator[bytes]:
        store = MailStore(self.system)
        selected = window(row["user_id"], utc(row["start"]), utc(row["end"]))
        with self.system.engine.connect() as conn:
            entries = conn.execute(select(selected).order_by(selected.c.idate)).all()
        for entry in entries:
            sender = ((entry.summary or {}).get("from") or {}).get("address") or ""
            yield mbox_entry(store.blob(entry.blob), sender, utc(entry.idate))  # type: ignore[arg-type]


def add_routes(api: Router, system: System) -> None:
    api.add("/audit", AuditsResource(system))
    api.add("/audit/{audit}", AuditResource(system))
    api.add("/audit/{audit}/export.mbox", AuditExportResource(system))
