"""JSON on the wire as WildDuck writes it: pretty-printed, UTF-8, dates as JavaScript ISO strings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

import falcon.media

from chainmail.http.bodies import loads_json, printable


def js_iso(moment: datetime) -> str:
    """`Date.prototype.toISOString()`: UTC with milliseconds and a `Z` (a naive time is taken as UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return js_iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> bytes:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=_default) + "\n"
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate from somewhere: never let it turn an answer into a 500
        return printable(text).encode()


def json_handler() -> falcon.media.JSONHandler:
    return falcon.media.JSONHandler(dumps=_dumps, loads=partial(loads_json))
