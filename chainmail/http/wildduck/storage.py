"""WildDuck's storage routes: a user's files (to attach to drafts), kept as content-addressed blobs."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Annotated, Any, Literal

import falcon
from pydantic import Field
from sqlalchemy import func, select

from chainmail.http.auth import require
from chainmail.http.errors import WildDuckError
from chainmail.http.pagination import page_fields, page_request
from chainmail.http.router import Router
from chainmail.http.validation import ObjectIdParam, WildDuckInput, WildDuckListing, parse, text
from chainmail.http.wire import js_iso
from chainmail.mail.store import MailStore
from chainmail.projections.paging import keyset_page
from chainmail.projections.userdata import stored_files
from chainmail.store.blobs import put_blob
from chainmail.store.database import writer
from chainmail.system import System

MAX_FILE = 64 * 1024 * 1024


class UploadFile(WildDuckInput):
    user: ObjectIdParam
    filename: text(255) = None
    contentType: text(255) = None
    encoding: Literal["base64"] | None = None
    content: Annotated[str, Field(min_length=1, max_length=MAX_FILE * 4 // 3 + 4)]
    cid: text(255) = None


class ListFiles(WildDuckListing):
    user: ObjectIdParam
    query: text(255) = None


class FilePath(WildDuckInput):
    user: ObjectIdParam
    file: ObjectIdParam


def file_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {
        "id": row["id"],
        "filename": row["filename"] or False,
        "contentType": row["content_type"] or False,
        "size": int(row["size"]),
        "created": js_iso(row["created"]),
        "md5": row["md5"],
    }
    if row["cid"]:
        view["cid"] = row["cid"]
    return view


class FilesResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def on_post(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(UploadFile, req.context.params)
        require(req.context.principal, "create", "storage", params.user)
        self.store.user(params.user)
        if params.encoding == "base64":
            try:
                content = base64.b64decode("".join(params.content.split()), validate=True)
            except (binascii.Error, ValueError):
                message = '"content" must be a valid base64 string'
                raise WildDuckError(400, "InputValidationError", message, details={"content": message}) from None
        else:
            content = params.content.encode("utf-8")
        with writer(self.system.engine).begin() as tx:
            blob = put_blob(tx, content)
        file_id = self.system.mail.store_file(
            params.user,
            filename=params.filename or "",
            content_type=params.contentType,
            cid=params.cid,
            sha256=blob.sha256,
            md5=hashlib.md5(content).hexdigest(),
            size=blob.size,
        )
        resp.media = {"success": True, "id": file_id}

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str) -> None:
        params = parse(ListFiles, req.context.params)
        require(req.context.principal, "read", "storage", params.user)
        self.store.user(params.user)
        t = stored_files
        where = [t.c.user_id == params.user]
        if params.query:
            escaped = params.query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(func.lower(t.c.filename).like(f"%{escaped}%", escape="\\"))
        after, before, number = page_request(params.next, params.previous, sorted_by_id=False)
        with self.system.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one())
            page = keyset_page(
                conn,
                select(t).where(*where),
                t.c.id,
                limit=int(params.limit),
                sort_column=t.c.filename,
                after=after,
                before=before,
            )
        resp.media = {
            "success": True,
            "total": total,
            **page_fields(page, number, sorted_by_id=False),
            "results": [file_view(dict(r._mapping)) for r in page.rows],
        }


class FileResource:
    def __init__(self, system: System) -> None:
        self.system, self.store = system, MailStore(system)

    def _row(self, params: FilePath) -> dict[str, Any]:
        with self.system.engine.connect() as conn:
            row = conn.execute(
                select(stored_files).where(stored_files.c.id == params.file, stored_files.c.user_id == params.user)
            ).first()
        if row is None:
            raise WildDuckError(404, "FileNotFound", "This file does not exist")
        return dict(row._mapping)

    def on_get(self, req: falcon.Request, resp: falcon.Response, user: str, file: str) -> None:
        params = parse(FilePath, req.context.params)
        require(req.context.principal, "read", "storage", params.user)
        row = self._row(params)
        resp.content_type = row["content_type"] or "application/octet-stream"
        resp.data = self.store.blob(row["sha256"])

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user: str, file: str) -> None:
        params = parse(FilePath, req.context.params)
        require(req.context.principal, "delete", "storage", params.user)
        self._row(params)
        self.system.mail.delete_file(params.user, params.file)
        resp.media = {"success": True}


def add_routes(api: Router, system: System) -> None:
    api.add("/users/{user}/storage", FilesResource(system))
    api.add("/users/{user}/storage/{file}", FileResource(system))
