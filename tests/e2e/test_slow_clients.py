"""`chainmail serve` under attack and under load, on loopback: slow and idle connections do not starve it,
a deeply nested body does not kill a worker, and chunked uploads are read whole."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ROOT_TOKEN

pytestmark = pytest.mark.e2e
SLOW_CONNECTIONS = 1000
HEADERS = {"X-Access-Token": ROOT_TOKEN}


@pytest.fixture
def server(server_factory, tmp_path: Path, sqlite_template: Path):  # type: ignore[no-untyped-def]
    shutil.copy(sqlite_template, tmp_path / "slow.sqlite")  # one store is enough: this is about connections
    return server_factory(f"sqlite:///{tmp_path / 'slow.sqlite'}", workers=2)


def _open_slow(url: str, count: int) -> Iterator[socket.socket]:
    host, port = url.removeprefix("http://").split(":")
    for number in range(count):
        sock = socket.create_connection((host, int(port)), timeout=5)
        if number % 3 == 0:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # headers that never end
        elif number % 3 == 1:
            sock.sendall(b"POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")  # a body, barely
        yield sock  # and a third just connects and says nothing


def _timed_health(url: str) -> float:
    began = time.monotonic()
    answer = httpx.get(f"{url}/api/health", headers=HEADERS, timeout=10)
    assert answer.status_code == 200, answer.text
    return time.monotonic() - began


def test_a_thousand_slow_connections_do_not_starve_the_service(server) -> None:  # type: ignore[no-untyped-def]
    before = min(_timed_health(server.url) for _ in range(3))
    slow = list(_open_slow(server.url, SLOW_CONNECTIONS))
    try:
        time.sleep(0.5)  # let the workers accept them all
        during = [_timed_health(server.url) for _ in range(5)]
        made = httpx.post(
            f"{server.url}/api/users",
            json={"username": "underload", "password": "secretvalue"},
            headers=HEADERS,
            timeout=10,
        )
        for sock in slow[1::3]:
            sock.sendall(b'"a')  # bodies trickling in change nothing
        during += [_timed_health(server.url) for _ in range(5)]
    finally:
        for sock in slow:
            sock.close()

    assert made.status_code == 200, made.text
    print(f"health before {before:.3f}s, with {SLOW_CONNECTIONS} slow connections max {max(during):.3f}s")
    assert max(during) < 1.0, (before, during)
    assert server.process.poll() is None


def test_deep_json_and_chunked_bodies_against_real_workers(server) -> None:  # type: ignore[no-untyped-def]
    deep = b"[" * 100_000 + b"]" * 100_000
    for path in ("/idx/authenticate", "/idx/graphql", "/api/users"):
        answer = httpx.post(
            f"{server.url}{path}", content=deep, headers={**HEADERS, "Content-Type": "application/json"}, timeout=10
        )
        assert answer.status_code == 400, (path, answer.text)

    def chunks() -> Iterator[bytes]:  # no length: httpx sends it chunked
        yield b'{"username": "chunked",'
        yield b' "password": "secretvalue"}'

    made = httpx.post(
        f"{server.url}/api/users", content=chunks(), headers={**HEADERS, "Content-Type": "application/json"}
    )
    assert made.status_code == 200, made.text
    assert "Worker (pid" not in server.log.read_text() or "SIGSEGV" not in server.log.read_text()
    assert _timed_health(server.url) < 1.0
