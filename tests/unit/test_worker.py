"""The gunicorn worker of `chainmail serve` takes one waiting connection at a time off the listening socket
that every worker shares, leaves a waiting connection to a live worker that holds fewer, and leaves that
socket the backlog the operator configured."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from gunicorn.config import Config

from chainmail.http.worker import _SLOT, YIELD_FOR, Shares, Worker


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # as gunicorn's master opens it (its default backlog)
    sock.setblocking(False)
    yield sock
    sock.close()


def worker_loop(backlog: int = 2048, shares: Shares | None = None) -> asyncio.AbstractEventLoop:
    cfg = Config()
    cfg.set("backlog", backlog)
    worker = Worker(0, os.getpid(), [], None, 30, cfg, logging.getLogger("test"))  # its slot: 0
    worker.shares = shares or Shares()  # a table of its own: no other worker in it
    worker._setup_event_loop()
    assert worker.loop is not None
    return worker.loop


def _listener(sock: socket.socket) -> list[str]:
    port = sock.getsockname()[1]
    shown = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return shown.split()


def backlog_of(sock: socket.socket) -> int:
    """The size of a listening socket's accept queue, as the kernel reports it (`ss`: Send-Q)."""
    return int(_listener(sock)[2])


def waiting(sock: socket.socket) -> int:
    """The connections waiting in a listening socket's accept queue (`ss`: Recv-Q)."""
    return int(_listener(sock)[1])


def one_turn(loop: asyncio.AbstractEventLoop) -> None:
    """One pass of the loop: poll once, run what is ready (asyncio's documented stop-then-run idiom)."""
    loop.call_soon(loop.stop)
    loop.run_forever()


def test_a_worker_takes_one_waiting_connection_each_time_the_socket_is_ready(listening: socket.socket) -> None:
    loop = worker_loop()
    server = loop.run_until_complete(loop.create_server(asyncio.Protocol, sock=listening))
    clients = [socket.create_connection(listening.getsockname()) for _ in range(4)]
    try:
        assert waiting(listening) == 4
        # One turn of the loop takes one: the next is left for whichever worker gets to the socket first
        # (asyncio alone took all four, the whole burst going to one worker).
        one_turn(loop)
        assert waiting(listening) == 3
        for _ in range(3):
            one_turn(loop)
        assert waiting(listening) == 0
    finally:
        for client in clients:
            client.close()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


def test_the_shared_socket_keeps_the_configured_backlog_and_outlives_the_worker(listening: socket.socket) -> None:
    # asyncio passes its own backlog (100 by default) to listen(): every worker that started shrank the queue
    # of the socket the master opened with the configured one
    loop = worker_loop(backlog=1024)
    try:
        server = loop.run_until_complete(loop.create_server(asyncio.Protocol, sock=listening))
        assert backlog_of(listening) == 1024
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        loop.close()
    # the worker closed a descriptor of its own: the socket the master and the other workers share still listens
    with socket.create_connection(listening.getsockname()):
        assert waiting(listening) == 1


def test_a_worker_holding_more_connections_than_a_live_one_leaves_it_a_waiting_connection_for_a_moment(
    listening: socket.socket,
) -> None:
    shares = Shares()
    loop = worker_loop(shares=shares)
    server = loop.run_until_complete(loop.create_server(asyncio.Protocol, sock=listening))
    shares.publish(1, 0)  # another worker, alive, holding no connection
    clients = [socket.create_connection(listening.getsockname())]
    try:
        for _ in range(3):  # both hold none: this one takes the first
            one_turn(loop)
        assert waiting(listening) == 0
        clients.append(socket.create_connection(listening.getsockname()))
        one_turn(loop)
        assert waiting(listening) == 1  # it holds one, the other none: left to the other
        moment = time.monotonic()
        while waiting(listening) and time.monotonic() - moment < 1:
            one_turn(loop)
        assert waiting(listening) == 0  # the other never took it: taken after a moment all the same
        assert time.monotonic() - moment >= YIELD_FOR

        _SLOT.pack_into(shares.table, _SLOT.size, time.monotonic() - 60, 0)  # the other has not been seen for long
        clients.append(socket.create_connection(listening.getsockname()))
        one_turn(loop)
        assert waiting(listening) == 0  # a worker gone is not waited for
    finally:
        for client in clients:
            client.close()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()
