"""`chainmail serve`: live update streams (`GET /users/:user/updates`, server-sent events) wait between polls
on the worker's event loop, not on its app threads. More streams than a worker has threads leave it answering
everyone else, and each stream still brings the news."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from chainmail.http.buffered import APP_THREADS
from tests.e2e.conftest import ROOT_TOKEN

pytestmark = pytest.mark.e2e
HEADERS = {"X-Access-Token": ROOT_TOKEN}
STREAMS = APP_THREADS + 4
MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: news\r\n\r\nfor every stream\r\n"


@dataclass
class Stream:
    sock: socket.socket
    seen: bytes  # what came after the headers so far


def _subscribe(url: str, user: str) -> Stream:
    """A raw connection asking for the user's updates; returns once the answer's headers are in."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        f"GET /api/users/{user}/updates HTTP/1.1\r\nHost: x\r\nX-Access-Token: {ROOT_TOKEN}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the stream closed before its headers"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return Stream(sock, head.split(b"\r\n\r\n", 1)[1])


def _read_until(stream: Stream, marker: bytes) -> bytes:
    while marker not in stream.seen:
        chunk = stream.sock.recv(65536)
        assert chunk, f"the stream ended before {marker!r}: {stream.seen!r}"
        stream.seen += chunk
    return stream.seen


def test_more_update_streams_than_app_threads_leave_the_worker_answering(database_url: str, server_factory) -> None:
    server = server_factory(database_url, workers=1)
    user = httpx.post(
        f"{server.url}/api/users", json={"username": "listener", "password": "secretvalue"}, headers=HEADERS
    ).json()["id"]
    mailboxes = httpx.get(f"{server.url}/api/users/{user}/mailboxes", headers=HEADERS).json()["results"]
    inbox = next(m["id"] for m in mailboxes if m["path"] == "INBOX")

    streams = [_subscribe(server.url, user) for _ in range(STREAMS)]  # before: the ninth never got its headers
    try:
        time.sleep(1.5)  # every stream has polled and is waiting for its next poll
        began = time.monotonic()
        health = httpx.get(f"{server.url}/api/health", headers=HEADERS, timeout=10)
        uploaded = httpx.post(
            f"{server.url}/api/users/{user}/mailboxes/{inbox}/messages",
            content=MESSAGE,
            headers={**HEADERS, "Content-Type": "message/rfc822"},
            timeout=10,
        )
        answered_in = time.monotonic() - began
        assert health.status_code == 200 and uploaded.status_code == 200, uploaded.text
        assert answered_in < 2.0, answered_in
        uid = uploaded.json()["message"]["id"]
        for stream in streams:
            news = _read_until(stream, f'"uid": {uid},'.encode())
            assert b'"command": "EXISTS"' in news
    finally:
        for stream in streams:
            stream.sock.close()
    # the streams of clients that left end at their next pause: the worker keeps answering
    time.sleep(1.5)
    assert httpx.get(f"{server.url}/api/health", headers=HEADERS, timeout=5).status_code == 200
