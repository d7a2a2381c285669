"""Untrusted bytes in, bounded values out: request bodies (chunked too), JSON without deep nesting, clean text.

Everything a client sends passes here before a route sees it:
- `read_body` reads `Content-Length` bodies and chunked ones (gunicorn de-chunks `wsgi.input`; Falcon's
  `bounded_stream` would read a body without a length as empty) and stops one byte past the limit.
- `loads_json` parses with orjson, which neither recurses on the Python stack nor accepts lone surrogates,
  and refuses documents nested deeper than `MAX_JSON_DEPTH`.
- `bad_text_at` finds a NUL or a lone surrogate anywhere in parsed parameters (keys included): PostgreSQL
  cannot store the one, UTF-8 cannot encode the other.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import IO, Any

import falcon
import orjson

MAX_JSON_DEPTH = 64  # objects and arrays inside one another; WildDuck's deepest documents nest about 5
SAFE_RECURSION_LIMIT = 1000  # Python's own default; py_ecc raises it to 100,000 when imported
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class RefusedJson(ValueError):
    """A body that is not JSON we take: malformed, nested too deeply, or not UTF-8."""


def restore_recursion_limit() -> None:
    """Undo py_ecc's import-time `sys.setrecursionlimit(100000)`: a deep recursion in a worker thread (its C
    stack is far smaller than 100,000 frames) would end the process with SIGSEGV instead of a RecursionError."""
    if sys.getrecursionlimit() > SAFE_RECURSION_LIMIT:
        sys.setrecursionlimit(SAFE_RECURSION_LIMIT)


def json_depth(value: Any, stop_after: int = MAX_JSON_DEPTH) -> int:
    """How deeply objects and arrays nest in `value` (a scalar is 0), counting no further than `stop_after` + 1."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > stop_after:
            return deepest
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def loads_json(raw: bytes | bytearray | memoryview | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse untrusted JSON; `RefusedJson` (a ValueError) names what is wrong with it."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RefusedJson(str(error)) from None
    if json_depth(value, max_depth) > max_depth:
        raise RefusedJson(f"JSON nests deeper than {max_depth} levels")
    return value


def is_chunked(req: falcon.Request) -> bool:
    return "chunked" in (req.get_header("Transfer-Encoding") or "").lower()


def body_stream(req: falcon.Request) -> IO[bytes]:
    """The body as a stream that ends where the body ends, with or without `Content-Length`."""
    if req.content_length is None and is_chunked(req):
        return req.stream  # the server de-chunks it and reports the end of the last chunk as EOF
    return req.bounded_stream


def too_large(req: falcon.Request, max_bytes: int) -> bool:
    """Whether the declared length already exceeds the limit (a chunked body is checked while it is read)."""
    length = req.content_length
    return length is not None and length > max_bytes


def read_body(req: falcon.Request, max_bytes: int) -> bytes | None:
    """The whole body, or None when it is longer than `max_bytes` (declared or sent)."""
    if too_large(req, max_bytes):
        return None
    stream = body_stream(req)
    parts: list[bytes] = []
    size = 0
    while size <= max_bytes:
        part = stream.read(min(1 << 20, max_bytes + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > max_bytes:
        return None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def iter_body(req: falcon.Request, max_bytes: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The body in pieces of at most `chunk` bytes; raises HTTPContentTooLarge once it passes `max_bytes`."""
    if too_large(req, max_bytes):
        raise falcon.HTTPContentTooLarge()
    stream = body_stream(req)
    size = 0
    while part := stream.read(chunk):
        size += len(part)
        if size > max_bytes:
            raise falcon.HTTPContentTooLarge()
        yield part


def bad_text_at(value: Any) -> tuple[tuple[str, ...], str] | None:
    """Where a NUL or a lone surrogate hides in parsed parameters (keys included), and which it is; else None."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            found = _BAD_TEXT.search(item)
            if found:
                return path, "null characters" if found.group() == "\x00" else "unpaired surrogates"
        elif isinstance(item, dict):
            for key, child in item.items():
                key_text = str(key)
                stack.append((key_text, (*path, printable(key_text))))
                stack.append((child, (*path, printable(key_text))))
        elif isinstance(item, list | tuple):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(item))
    return None


def printable(text: str) -> str:
    """`text` with NULs and lone surrogates replaced by U+FFFD, so that it can always be encoded as UTF-8."""
    return _BAD_TEXT.sub("\ufffd", text)
