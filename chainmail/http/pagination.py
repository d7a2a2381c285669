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


def _unejson(value: Any) -> Any:
    if isinstance(value, dict) and "$date" in value:
        return datetime.fromtimestamp(int(value["$date"]) / 1000, UTC)
    return value


def encode_cursor(boundary: Boundary, page: int, *, sorted_by_id: bool = True) -> str:
    oid = {"$oid": boundary.id}
    inner = json.dumps(oid if sorted_by_id else [_ejson(boundary.value), oid], separators=(",", ":"))
    return _b64encode(json.dumps([_b64encode(inner), page], separators=(",", ":")))


def decode_cursor(cursor: str | None, *, sorted_by_id: bool = True) -> tuple[Boundary, int] | None:
    """The boundary and page number in a cursor; None for a cursor not in the wrapped form (ignored)."""
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
            return (Boundary(str(oid)), max(page, 1)) if isinstance(oid, str) else None
        if not (isinstance(inner, list) and len(inner) >= 2 and isinstance(inner[1], dict)):
            return None
        oid = inner[1].get("$oid")
        return (Boundary(str(oid), _unejson(inner[0])), max(page, 1)) if isinstance(oid, str) else None
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError):
        return None


def page_request(
    next_cursor: str | None, previous_cursor: str | None, *, sorted_by_id: bool = True
) -> tuple[Boundary | None, Boundary | None, int]:
    """(after, before, page) from the `next`/`previous` query parameters; `next` wins."""
    after = decode_cursor(next_cursor, sorted_by_id=sorted_by_id)
    if after is not None:
        return after[0], None, after[1]
    before = decode_cursor(previous_cursor, sorted_by_id=sorted_by_id)
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
