"""WildDuck's parameter merging: path, query string and body become one set (path > query > body).

Query strings nest like the `qs` package with `allowDots`: `or.query=x` and `or[query]=x` both give
`{"or": {"query": "x"}}`; a repeated key gives a list. `accessToken` is never a parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import falcon

from chainmail.http.bodies import RefusedJson, bad_text_at, loads_json
from chainmail.http.bodies import read_body as read_bytes
from chainmail.http.errors import IndexerError, RestifyError, WildDuckError

MAX_DEPTH = 5


def _path(key: str) -> list[str]:
    parts: list[str] = []
    for chunk in key.replace("]", "").split("["):
        parts.extend(p for p in chunk.split(".") if p != "") if chunk else parts.append("")
    return parts[: MAX_DEPTH + 1] or [key]


def _put(target: dict[str, Any], parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        if head == "":
            return
        if head in target:
            existing = target[head]
            target[head] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            target[head] = value
        return
    if rest == [""]:  # `tags[]=a&tags[]=b`
        existing = target.get(head)
        target[head] = (
            [*existing, value] if isinstance(existing, list) else ([existing, value] if existing else [value])
        )
        return
    child = target.get(head)
    if not isinstance(child, dict):
        child = {}
        target[head] = child
    _put(child, rest, value)


def parse_query(query_string: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        _put(result, _path(key), value)
    return result


def read_body(req: falcon.Request, max_bytes: int) -> dict[str, Any]:
    """The request body as parameters: JSON or urlencoded (chunked or not); other bodies are left to the resource."""
    if req.content_length is not None and req.content_length > max_bytes:
        raise falcon.HTTPContentTooLarge()
    media_type = (req.content_type or "").split(";")[0].strip().lower()
    if media_type not in ("application/json", "application/x-www-form-urlencoded") and not media_type.endswith("+json"):
        return {}
    raw = read_bytes(req, max_bytes)
    if raw is None:
        raise falcon.HTTPContentTooLarge()
    req.context.raw_body = raw
    if not raw.strip():
        return {}
    if media_type == "application/x-www-form-urlencoded":
        try:
            return parse_query(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise RestifyError(400, "BadRequest", "Request body is not valid UTF-8") from None
    try:
        body = loads_json(raw)
    except RefusedJson as error:
        raise RestifyError(400, "InvalidContent", f"Invalid JSON: {error}") from None
    if not isinstance(body, dict):
        raise RestifyError(400, "InvalidContent", "Request body must be a JSON object")
    return body


def refuse_bad_text(params: dict[str, Any], *, indexer: bool) -> None:
    """A NUL or a lone surrogate anywhere in the parameters is a 400 in the route's shape, before any use."""
    found = bad_text_at(params)
    if found is None:
        return
    path, what = found
    where = ".".join(path) or "value"
    message = f'"{where}" must not contain {what}'
    if indexer:
        raise IndexerError(400, "VALIDATION_ERROR", f"{where}: must not contain {what}")
    raise WildDuckError(400, "InputValidationError", message, details={",".join(path): message})


class ParamsMiddleware:
    """Puts the merged parameters in `req.context.params` before a responder runs."""

    def __init__(self, max_body_bytes: int, is_indexer: Callable[[falcon.Request], bool] = lambda req: False) -> None:
        self.max_body_bytes = max_body_bytes
        self.is_indexer = is_indexer

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict) -> None:
        if resource is None:
            return
        body = {} if getattr(resource, "raw_body", False) else read_body(req, self.max_body_bytes)
        query = parse_query(req.query_string)
        merged = {**body, **query, **params}
        merged.pop("accessToken", None)
        refuse_bad_text(merged, indexer=self.is_indexer(req))
        req.context.params = merged
