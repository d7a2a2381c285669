"""WildDuck's cursors: base64url JSON `["<inner cursor>", <page>]`, the inner cursor being the base64url
extended-JSON sort key of the boundary item (`{"$oid": id}`, or `[value, {"$oid": id}]`)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from chainmail.http.bodies import loads_json
from chainmail.projections.paging import Boundary, Page


def _b64encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _b64decode(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def _ejson(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return {"$date": int(moment.timestamp() * 1000)}
    return value


MAX_KEY = 1024  # characters of a sort value a cursor may carry (names, addresses: far below)


def _unejson(value: Any, value_type: type) -> Any:
    """The sort value a cursor carries, if it is one of `value_type` (a date as `{"$date": ms}`); else None."""
    if value_type is datetime:
        if not (isinstance(value, dict) and isinstance(value.get("$date"), int | float)):
            return None
        try:
            return datetime.fromtimestamp(int(value["$date"]) / 1000, UTC)
        except (OverflowError, OSError, ValueError):  # beyond what a date can be
            return None
    return value if isinstance(value, str) and _storable(value, MAX_KEY) else None


def _storable(text: str, limit: int) -> bool:
    """A string a query may compare with a column: no NUL (PostgreSQL text cannot hold one), not huge."""
    return len(text) <= limit and "\x00" not in text


def encode_cursor(boundary: Boundary, page: int, *, sorted_by_id: bool = True) -> str:
    oid = {"$oid": boundary.id}
    inner = json.dumps(oid if sorted_by_id else [_ejson(boundary.value), oid], separators=(",", ":"))
    return _b64encode(json.dumps([_b64encode(inner), page], separators=(",", ":")))


def decode_cursor(
    cursor: str | None, *, sorted_by_id: bool = True, value_type: type = str
) -> tuple[Boundary, int] | None:
    """The boundary and page number in a cursor; None for a cursor not in the wrapped form, or whose key is not
    one the listing's sort could hold (`value_type`, an id of a few characters): ignored, as WildDuck does."""
    if not cursor:
        return None
    try:
        outer = loads_json(_b64decode(cursor))
        if not (isinstance(outer, list) and len(outer) == 2 and isinstance(outer[0], str)):
            return None
        page = int(outer[1]) if isinstance(outer[1], int | float) else 1
        inner = loads_json(_b64decode(outer[0]))
        if sorted_by_id:
            oid = inner.get("$oid") if isinstance(inner, dict) else None
            return (Boundary(oid), max(page, 1)) if _an_id(oid) else None
        if not (isinstance(inner, list) and len(inner) >= 2 and isinstance(inner[1], dict)):
            return None
        oid, value = inner[1].get("$oid"), _unejson(inner[0], value_type)
        return (Boundary(oid, value), max(page, 1)) if _an_id(oid) and value is not None else None
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError, OverflowError):
        return None


def _an_id(value: Any) -> bool:
    return isinstance(value, str) and _storable(value, 64)


def page_request(
    next_cursor: str | None, previous_cursor: str | None, *, sorted_by_id: bool = True, value_type: type = str
) -> tuple[Boundary | None, Boundary | None, int]:
    """(after, before, page) from the `next`/`previous` query parameters; `next` wins. `value_type`: the type of
    the listing's sort key when it is not the id (text, or `datetime` for arrival dates)."""
    after = decode_cursor(next_cursor, sorted_by_id=sorted_by_id, value_type=value_type)
    if after is not None:
        return after[0], None, after[1]
    before = decode_cursor(previous_cursor, sorted_by_id=sorted_by_id, value_type=value_type)
    if before is not None:
        return None, before[0], before[1]
    return None, None, 1


def page_fields(page: Page, page_number: int, *, sorted_by_id: bool = True) -> dict[str, Any]:
    """`page`, `previousCursor` and `nextCursor` as WildDuck reports them (`false` when there is none)."""
    number = page_number if page.has_previous else 1
    previous = (
        encode_cursor(page.first, max(number - 1, 1), sorted_by_id=sorted_by_id)
        if page.has_previous and page.first
        else False
    )
    following = (
        encode_cursor(page.last, number + 1, sorted_by_id=sorted_by_id) if page.has_next and page.last else False
    )
    return {"page": number, "previousCursor": previous, "nextCursor": following}
