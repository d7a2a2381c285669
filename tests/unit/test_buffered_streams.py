"""`BufferedWsgi` streams: a `Pause` waits on the event loop, not on an app thread, and a client that leaves
during a pause ends the stream (the app's generator is closed)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

from chainmail.http.buffered import PAUSE, BufferedWsgi, Pause

SCOPE = {"type": "http", "method": "GET", "path": "/stream", "headers": [], "query_string": b""}


class Client:
    """ASGI receive and send for one request without a body; `leave()` disconnects it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self.asked = 0

    async def receive(self) -> dict[str, Any]:
        self.asked += 1
        if self.asked == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def _served_until_the_client_leaves(app: Any, *, after: float) -> Client:
    """Serve one request; the client leaves `after` seconds in, and the answer must end within two more."""

    async def main() -> Client:
        served = BufferedWsgi(app, threads=2, max_body_bytes=1024)
        client = Client()
        serving = asyncio.ensure_future(served(SCOPE, client.receive, client.send))
        await asyncio.sleep(after)
        assert not serving.done()
        client.gone.set()
        await asyncio.wait_for(serving, timeout=2)
        served.executor.shutdown()
        return client

    return asyncio.run(main())


def test_paused_streams_hold_no_app_thread_and_still_stream() -> None:
    threads_seen: set[str] = set()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        pause = environ[PAUSE]
        for number in range(3):
            threads_seen.add(threading.current_thread().name)
            yield f"data: {number}\n\n".encode()
            yield pause(0.05)

    async def main() -> list[Client]:
        served = BufferedWsgi(app, threads=1, max_body_bytes=1024)  # one thread for ten streams at once
        clients = [Client() for _ in range(10)]
        await asyncio.wait_for(asyncio.gather(*(served(SCOPE, c.receive, c.send) for c in clients)), timeout=5)
        served.executor.shutdown()
        return clients

    began = time.monotonic()
    clients = asyncio.run(main())
    took = time.monotonic() - began

    assert [c.body() for c in clients] == [b"data: 0\n\ndata: 1\n\ndata: 2\n\n"] * 10
    assert all(c.sent[-1] == {"type": "http.response.body", "body": b""} for c in clients)
    assert len(threads_seen) == 1
    # ten streams of three 50 ms pauses share one thread: they wait side by side (0.15 s), not one after
    # another in the thread (1.5 s)
    assert 0.15 <= took < 1.0, took


def test_a_client_that_leaves_during_a_pause_ends_the_stream() -> None:
    closed = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        try:
            yield b"data: hello\n\n"
            while True:
                yield environ[PAUSE](3600)
        finally:
            closed.set()

    client = _served_until_the_client_leaves(app, after=0.1)
    assert client.body() == b"data: hello\n\n"
    assert closed.wait(2)


def test_a_pause_is_an_empty_chunk_to_any_other_server() -> None:
    pause = Pause(1.5)
    assert pause == b"" and isinstance(pause, bytes) and pause.seconds == 1.5


def test_a_client_that_leaves_a_long_stream_stops_it_at_the_next_chunk() -> None:
    made = []
    closed = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        try:
            while len(made) < 10_000:  # an export that would run for a minute
                time.sleep(0.005)
                made.append(1)
                yield b"x" * 100
        finally:
            closed.set()

    client = _served_until_the_client_leaves(app, after=0.2)
    assert closed.wait(2)
    assert 0 < len(made) < 200, len(made)
    assert len(client.body()) == 100 * len(client.sent[1:]) and client.sent[-1].get("more_body") is True


def test_a_pause_with_wake_asks_again_only_when_woken_or_when_it_has_waited_long_enough() -> None:
    asked: list[float] = []
    calls: list[float] = []
    began = time.monotonic()

    def wake() -> bool:
        calls.append(time.monotonic() - began)
        return len(calls) == 3  # the third call, after three waits

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        pause = environ[PAUSE]
        yield b"data: 0\n\n"
        asked.append(time.monotonic() - began)
        yield pause(0.02, wake, within=10)
        asked.append(time.monotonic() - began)
        yield pause(0.02, lambda: False, within=0.1)  # never woken: asked again after `within`
        asked.append(time.monotonic() - began)

    async def main() -> Client:
        served = BufferedWsgi(app, threads=1, max_body_bytes=1024)
        client = Client()
        await asyncio.wait_for(served(SCOPE, client.receive, client.send), timeout=5)
        served.executor.shutdown()
        return client

    client = asyncio.run(main())
    assert client.body() == b"data: 0\n\n"
    assert len(calls) >= 3 and 0.06 <= asked[1] - asked[0] < 0.5  # three waits of 20 ms, then asked
    assert 0.1 <= asked[2] - asked[1] < 0.5


def test_a_nudge_has_paused_streams_ask_their_wake_at_once() -> None:
    news = threading.Event()
    asked_at: list[float] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        yield b"data: waiting\n\n"
        yield environ[PAUSE](30, news.is_set, within=60)  # a tick of 30 s: only a nudge wakes it in time
        asked_at.append(time.monotonic())
        yield b"data: news\n\n"

    async def main() -> Client:
        served = BufferedWsgi(app, threads=1, max_body_bytes=1024)
        client = Client()
        serving = asyncio.ensure_future(served(SCOPE, client.receive, client.send))
        await asyncio.sleep(0.1)
        served.nudge()  # no news yet: the stream looks, and pauses again
        await asyncio.sleep(0.1)
        assert not asked_at
        news.set()
        nudged_at = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, served.nudge)  # from another thread
        await asyncio.wait_for(serving, timeout=2)
        served.executor.shutdown()
        assert asked_at[0] - nudged_at < 0.5
        return client

    assert asyncio.run(main()).body() == b"data: waiting\n\ndata: news\n\n"
