"""Serving the WSGI app from gunicorn's asyncio (ASGI) worker: slow and idle clients cost a socket, never a thread.

The event loop reads each request whole - headers, then the body (chunked or not), spooled to a temporary
file past `SPOOL_BYTES` - and only then hands it to the WSGI app on a small thread pool. A connection that
sends its headers a byte at a time, or never finishes its body, waits on the loop (gunicorn's keep-alive and
body timeouts close it) while the threads keep answering everyone else. Responses go back as the app yields
them: server-sent events keep streaming. A stream with nothing to send yields a `Pause` (when the environ
offers them, `PAUSE`): the loop waits, and no app thread is held while it does; `NUDGE` has paused streams
look again at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

APP_THREADS = 8  # per worker: requests whose bodies are already whole; slow clients wait on the loop, not here
SPOOL_BYTES = 1 << 20  # bodies up to 1 MiB stay in memory; larger ones go to a temporary file
_DONE = object()
PAUSE = "chainmail.pause"  # the environ key under which the server offers `Pause`
NUDGE = "chainmail.nudge"  # and a function (any thread may call it) that has every paused stream ask its `wake`


class Pause(bytes):
    """An empty chunk that asks the server to wait `seconds` on its event loop, or until the client leaves,
    before it asks the stream for more. With `wake`, the server asks only once `wake()` says so (called on
    the loop after each `seconds`: it must be quick and must not block), or once `within` seconds have passed
    in all: a stream with nothing to say costs the loop a call, not a thread. Other WSGI servers take a pause
    for an empty chunk and ask again at once, so an app yields one only where the environ offers it
    (`PAUSE`), and sleeps in its thread elsewhere."""

    seconds: float
    wake: Callable[[], bool] | None
    within: float

    def __new__(cls, seconds: float, wake: Callable[[], bool] | None = None, within: float | None = None) -> Pause:
        pause = super().__new__(cls, b"")
        pause.seconds, pause.wake = seconds, wake
        pause.within = seconds if within is None else max(seconds, within)
        return pause


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 256 * 1024


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()


def keep_large_buffers_returnable() -> None:
    """glibc raises its mmap threshold each time a large block is freed, so the next 30 MB body lands on a
    heap that is never given back. A fixed threshold keeps every block past 256 KiB in its own mapping,
    returned to the system when freed."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        _LIBC.mallopt(_M_TRIM_THRESHOLD, 4 * _MMAP_THRESHOLD)


def give_memory_back() -> None:
    """Collect the garbage cycles still holding a large body, then return the free pages of every malloc
    arena (threads have their own) to the system."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class BufferedWsgi:
    """An ASGI application around a WSGI one: the request is buffered on the loop, the app runs in threads."""

    def __init__(self, app: WsgiApp, *, threads: int, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused: set[asyncio.Future[None]] = set()  # one for each stream paused with a `wake`, set by a nudge
        keep_large_buffers_returnable()

    def nudge(self) -> None:
        """Have every paused stream call its `wake` now (from any thread): news has come that some may want."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_paused)

    def _wake_paused(self) -> None:
        paused, self._paused = self._paused, set()
        for nudged in paused:
            if not nudged.done():
                nudged.set_result(None)

    async def _pause(self, loop: asyncio.AbstractEventLoop, pause: Pause, left: asyncio.Future[Any]) -> None:
        """Wait out `pause`: its `seconds` at a time (or until a nudge) until `wake()` says so, `within` has
        passed, or the client has left. Each wait has a future of its own (one shared by thousands of paused
        streams would cost each of them a scan of every other's callback as it stops waiting)."""
        began, wake = loop.time(), pause.wake
        while not left.done():
            if wake is None:
                await asyncio.wait({left}, timeout=pause.seconds)
                return
            nudged: asyncio.Future[None] = loop.create_future()
            self._paused.add(nudged)
            try:
                await asyncio.wait({left, nudged}, timeout=pause.seconds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._paused.discard(nudged)
            if loop.time() - began >= pause.within or wake():
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed below
        size: int | None = None
        sent = 0
        try:
            size = await self._read_body(receive, body)
            if size is None:
                return  # the client left before its body was whole
            if size > self.max_body_bytes:
                await _plain(send, 413, b'{"code":"PayloadTooLarge","message":"Request body is too large"}\n')
                return
            body.seek(0)
            environ = _environ(scope, body, size)
            environ[PAUSE], environ[NUDGE] = Pause, self.nudge  # what this server offers streams
            sent = await self._respond(environ, receive, send)
        finally:
            body.close()
        if max(size or 0, sent) > SPOOL_BYTES:  # a large body left large buffers behind: hand them back
            await asyncio.get_running_loop().run_in_executor(self.executor, give_memory_back)

    async def _read_body(self, receive: Receive, body: BinaryIO) -> int | None:
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return size  # answered 413 at once; gunicorn closes the connection with the rest unread
            if chunk:
                body.write(chunk)
            if not message.get("more_body", False):
                return size

    async def _respond(self, environ: dict[str, Any], receive: Receive, send: Send) -> int:
        """Run the app and send its answer; how many body bytes went out."""
        loop = asyncio.get_running_loop()
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            return _no_write

        result = await loop.run_in_executor(self.executor, self.app, environ, start_response)
        try:
            if isinstance(result, list | tuple):  # an ordinary answer: already whole
                await send({"type": "http.response.start", "status": started["status"], "headers": started["headers"]})
                whole = result[0] if len(result) == 1 else b"".join(result)
                await send({"type": "http.response.body", "body": whole})
                return len(whole)
            return await self._stream(iter(result), started, receive, send)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                await loop.run_in_executor(self.executor, close)

    async def _stream(self, chunks: Iterator[bytes], started: dict[str, Any], receive: Receive, send: Send) -> int:
        """Send a streamed answer chunk by chunk, each asked for on a thread; a `Pause` waits on the loop.
        The stream ends early, unfinished, once the client has left: nothing more is asked of it (an export
        whose client hung up stops at its next chunk instead of running to its end for nobody)."""
        loop = self._loop = asyncio.get_running_loop()
        # the body was whole, so receive() has nothing left to say but goodbye
        left: asyncio.Future[dict[str, Any]] = asyncio.ensure_future(receive())
        try:
            chunk = await loop.run_in_executor(self.executor, next, chunks, _DONE)
            await send({"type": "http.response.start", "status": started["status"], "headers": started["headers"]})
            sent = 0
            while chunk is not _DONE and not left.done():
                if isinstance(chunk, Pause):
                    await self._pause(loop, chunk, left)
                elif chunk:
                    sent += len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if not left.done():
                    chunk = await loop.run_in_executor(self.executor, next, chunks, _DONE)
            if not left.done():
                await send({"type": "http.response.body", "body": b""})
            return sent
        finally:
            if not left.done():
                left.cancel()


def _no_write(data: bytes) -> None:
    raise NotImplementedError("write() is not supported: return the body instead")


async def _plain(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _environ(scope: Scope, body: BinaryIO, size: int) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP scope whose body is already whole (so its length is known)."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    path = scope.get("path", "/")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8", "surrogateescape").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "CONTENT_LENGTH": str(size),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "content-length":
            continue  # the body was read whole: its real length is set above
        if name == "transfer-encoding":
            continue  # de-chunked already
        key = "CONTENT_TYPE" if name == "content-type" else "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
