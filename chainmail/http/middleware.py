"""Request ids: taken from `X-Request-Id` when the caller sends a sane one, else made; echoed back and logged."""

from __future__ import annotations

import re
import uuid
from typing import Any

import falcon
import structlog

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header("X-Request-Id")
        request_id = given if given and REQUEST_ID.match(given) else uuid.uuid4().hex
        req.context.request_id = request_id
        req.context.params = {}
        structlog.contextvars.bind_contextvars(request_id=request_id)
        resp.set_header("X-Request-Id", request_id)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, ok: bool) -> None:
        structlog.contextvars.unbind_contextvars("request_id")
