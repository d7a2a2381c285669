"""Live update streams (`GET /users/:user/updates`, server-sent events) held open against `chainmail serve`,
printed (not a test).

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.live_updates [--streams 400] [--users 8] [--seconds 10]
        [--store postgres|sqlite] [--before CHECKOUT]

Starts `chainmail serve` as an operator would (default settings) on a throwaway database, opens `--streams`
streams spread over `--users` users and lets them idle. Then prints, for each version served (with
`--before`, that checkout's and this one's, each on its own server and database, one after the other):
- the CPU that the idle streams cost, per second: the server's processes and its database's backends
  (read from /proc, as `benchmarks.side_by_side` does);
- `GET /api/health` answered meanwhile (median and slowest of 20);
- one upload for each user: the time from its answer until the last stream of that user has its EXISTS
  (streams poll once a second, so up to a second is expected).
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks import side_by_side as sbs
from benchmarks import write_path as wp

MESSAGE = "From: a@example.org\r\nTo: b@example.org\r\nSubject: live\r\n\r\nnews for the streams\r\n"


def subscribe(port: int, user: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    request = f"GET /api/users/{user}/updates HTTP/1.1\r\nHost: x\r\nX-Access-Token: {wp.TOKEN}\r\n\r\n"
    sock.sendall(request.encode())
    return sock


def wait_for(streams: dict[socket.socket, bytearray], markers: dict[socket.socket, bytes], deadline: float) -> dict:
    """Read every stream until its marker shows up; when each did (monotonic seconds)."""
    selector = selectors.DefaultSelector()
    for sock in streams:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    arrived: dict[socket.socket, float] = {s: time.monotonic() for s in streams if markers[s] in streams[s]}
    while len(arrived) < len(streams) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.05):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            streams[sock] += chunk
            if sock not in arrived and markers[sock] in streams[sock]:
                arrived[sock] = time.monotonic()
    selector.close()
    for sock in streams:
        sock.setblocking(True)
    return arrived


def measure(name: str, tree: Path, store: str, streams: int, users: int, seconds: float) -> None:
    with ExitStack() as stack:
        served = sbs.serve(stack, name, tree, 1, 0.0, store)
        api = wp.Api(served.port)
        accounts = []
        for number in range(users):
            user = api.call("POST", "/api/users", {"username": f"live{number}", "password": "benchmark-password"})["id"]
            boxes = api.call("GET", f"/api/users/{user}/mailboxes")["results"]
            accounts.append((user, next(b["id"] for b in boxes if b["path"] == "INBOX")))
        owner: dict[socket.socket, int] = {}
        for number in range(streams):
            owner[subscribe(served.port, accounts[number % users][0])] = number % users
        data = {sock: bytearray() for sock in owner}
        opened = wait_for(data, dict.fromkeys(owner, b"\r\n\r\n"), time.monotonic() + 60)
        print(f"{name}: {len(opened)} of {streams} streams answered their headers")
        time.sleep(2)
        before = sbs.cpu_seconds(served.port, served.database)
        began = time.monotonic()
        health = []
        while time.monotonic() - began < seconds:
            asked = time.monotonic()
            api.call("GET", "/api/health")
            health.append(time.monotonic() - asked)
            time.sleep(max(0.0, seconds / 20 - (time.monotonic() - asked)))
        idle_cpu = (sbs.cpu_seconds(served.port, served.database) - before) / (time.monotonic() - began)
        delays = []
        for index, (user, inbox) in enumerate(accounts):
            uid = api.call("POST", f"/api/users/{user}/mailboxes/{inbox}/messages", raw=MESSAGE)["message"]["id"]
            answered = time.monotonic()
            mine = {sock: data[sock] for sock, of in owner.items() if of == index}
            arrived = wait_for(mine, dict.fromkeys(mine, f'"uid": {uid},'.encode()), answered + 30)
            missing = len(mine) - len(arrived)
            delays.append(max(arrived.values(), default=answered) - answered if not missing else float("inf"))
        for sock in owner:
            sock.close()
        print(
            f"{name}: {streams} idle streams over {users} users, {store}: CPU {idle_cpu * 100:.1f}% of a core "
            f"(server and database); GET /api/health median {statistics.median(health) * 1000:.1f} ms, "
            f"slowest {max(health) * 1000:.1f} ms; an upload reached every stream of its user in "
            f"{statistics.median(delays):.2f} s (median of {users}), {max(delays):.2f} s at most"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=400)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--before", type=Path, help="a checkout of the version to compare against")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    here = Path(wp.chainmail.__file__).resolve().parents[1]
    for name, tree in ([("before", args.before)] if args.before else []) + [("after", here)]:
        measure(name, tree, args.store, args.streams, args.users, args.seconds)


if __name__ == "__main__":
    main()
