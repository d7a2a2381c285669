"""JSON on the wire as WildDuck writes it: pretty-printed, UTF-8, dates as JavaScript ISO strings."""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any

import falcon.media
import orjson

from chainmail.http.bodies import loads_json, printable


def js_iso(moment: datetime) -> str:
    """`Date.prototype.toISOString()`: UTC with milliseconds and a `Z` (a naive time is taken as UTC).

    A quarter of the time `astimezone` and a replace took: a listing writes two dates a row, the points
    leaderboard three for each of its hundred wallets."""
    offset = moment.utcoffset()
    if offset:
        moment -= offset
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 (a third faster than an f-string here)
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    )


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return js_iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ORJSON = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _dumps(value: Any) -> bytes:
    try:  # orjson writes what json.dumps(indent=2) writes, ten times faster
        return orjson.dumps(value, default=_default, option=_ORJSON)
    except (orjson.JSONEncodeError, TypeError):
        pass  # a lone surrogate, an integer past 64 bits, NaN: the standard library's way below
    text = json.dumps(value, indent=2, ensure_ascii=False, default=_default) + "\n"
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate from somewhere: never let it turn an answer into a 500
        return printable(text).encode()


def json_handler() -> falcon.media.JSONHandler:
    return falcon.media.JSONHandler(dumps=_dumps, loads=partial(loads_json))
