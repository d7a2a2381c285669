"""A TCP proxy that holds every chunk for a fixed delay each way: PostgreSQL as if on another host.

    python -m benchmarks.delay_proxy --listen 6001 --to 127.0.0.1:5432 --delay-ms 0.5

This machine's kernel has no `netem` to add latency to loopback, and a database on the same host answers in
microseconds, which hides what a round trip costs where the API nodes and PostgreSQL are apart (two nodes
sharing one database always are). Order is kept per direction; a chunk is never sent before its time, and is
late by the proxy's own work (tens of microseconds when idle: `measure_round_trip` says what a query really
waits).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import select
import socket
import statistics
import time


class _Direction:
    """One way of a proxied connection: what `source` sent, each chunk due `delay` after it arrived."""

    def __init__(self, source: socket.socket, target: socket.socket) -> None:
        self.source, self.target = source, target
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()  # b"" is the end of the stream
        self.ended = False


def serve(listen_port: int, host: str, port: int, delay: float) -> None:
    """One thread and `select`, whose timeout is in microseconds (asyncio's timers round up to the millisecond,
    and threads waking each other through the GIL add milliseconds under load)."""
    listener = socket.create_server(("127.0.0.1", listen_port), backlog=256)
    listener.setblocking(False)
    reading: dict[socket.socket, _Direction] = {}
    directions: set[_Direction] = set()

    def close(direction: _Direction) -> None:
        directions.discard(direction)
        reading.pop(direction.source, None)
        with contextlib.suppress(OSError):
            direction.target.shutdown(socket.SHUT_WR)
        if not any(d.target is direction.source or d.source is direction.target for d in directions):
            direction.source.close()
            direction.target.close()

    while True:
        now = time.monotonic()
        due = [d for d in directions if d.queue and d.queue[0][0] <= now]
        for direction in due:
            while direction.queue and direction.queue[0][0] <= now:
                at, chunk = direction.queue[0]
                if not chunk:
                    close(direction)
                    break
                try:
                    sent = direction.target.send(chunk)
                except BlockingIOError:
                    break
                except OSError:
                    close(direction)
                    break
                if sent < len(chunk):
                    direction.queue[0] = (at, chunk[sent:])
                    break
                direction.queue.popleft()
        waiting = [d.queue[0][0] for d in directions if d.queue]
        blocked = [d.target for d in directions if d.queue and d.queue[0][0] <= now]
        timeout = 0.0 if blocked else (max(min(waiting) - time.monotonic(), 0.0) if waiting else None)
        readable, _, _ = select.select([listener, *reading], [], [], 0.0 if blocked else timeout)
        if blocked and not readable:
            select.select([], blocked, [], 0.001)
        for sock in readable:
            if sock is listener:
                with contextlib.suppress(BlockingIOError):
                    client, _ = listener.accept()
                    try:
                        upstream = socket.create_connection((host, port))
                    except OSError:
                        client.close()
                        continue
                    for end in (client, upstream):
                        end.setblocking(False)
                        end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    for source, target in ((client, upstream), (upstream, client)):
                        direction = _Direction(source, target)
                        reading[source] = direction
                        directions.add(direction)
                continue
            direction = reading[sock]
            try:
                chunk = sock.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            direction.queue.append((time.monotonic() + delay, chunk))
            if not chunk:
                reading.pop(sock, None)


def measure_round_trip(url: str, count: int = 200) -> float:
    """The median milliseconds of `SELECT 1` on one connection to `url` (through the proxy or not)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        spent = []
        for _ in range(count):
            start = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            spent.append(time.perf_counter() - start)
    return statistics.median(spent) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--to", default="127.0.0.1:5432")
    parser.add_argument("--delay-ms", type=float, required=True, help="added each way")
    args = parser.parse_args()
    host, _, port = args.to.rpartition(":")
    serve(args.listen, host, int(port), args.delay_ms / 1000)


if __name__ == "__main__":
    main()
