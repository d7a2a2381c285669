"""Two versions of chainmail served side by side, the same requests driven at each in alternating rounds, printed.

    apt-get install -y wrk
    git worktree add /tmp/before <rev>
    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.side_by_side --before /tmp/before \\
        [--ops upload,hot,flag,points,submit,user,listing,leaderboard] [--clients 16] [--seconds 5] [--rounds 4]
        [--db-delay-ms 0.25] [--store postgres|sqlite] [--workers N]

Runs on one machine drift: the same commit measured an hour apart varies by 10-25% here. So each version gets
its own `chainmail serve` (default settings, so 2 workers unless `--workers`) on its own throwaway database
(PostgreSQL, or with `--store sqlite` the embedded default), both running at
once. The rounds of each operation alternate between them (ABBA...), and the medians are compared. Besides
requests/s and p99 (measured by wrk, as in `benchmarks.write_path`), each row gives the CPU time per request
of that server's processes: its gunicorn master and workers (found by the `CHAINMAIL_PORT` in their
environment) and the PostgreSQL backends of its database, read from /proc (Linux) before and after each
round. CPU per request is steadier than a rate on a noisy machine.

`--db-delay-ms` puts each server's PostgreSQL behind a proxy that delays every chunk by that much each way
(`benchmarks.delay_proxy`): the database as if on another host, where every round trip of a request costs
what the network takes. The median `SELECT 1` through the proxy is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmarks import write_path as wp
from benchmarks._stores import database
from benchmarks.delay_proxy import measure_round_trip

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Served:
    name: str
    port: int
    database: str  # the PostgreSQL database's name, as its backends show it in their command line
    cycles: dict[str, list[list[wp.Req]]]  # each client's requests, by operation (`write_path.chainmail_cycles`)


def cpu_seconds(port: int, database_name: str) -> float:
    """User + system CPU so far of the server on `port` and of its database's backends (none on SQLite)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            if command.startswith(b"postgres: "):
                if not database_name or f" {database_name} ".encode() not in command.replace(b"\0", b" ") + b" ":
                    continue
            elif f"CHAINMAIL_PORT={port}\0".encode() not in Path(f"/proc/{pid}/environ").read_bytes():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone, or not ours to read
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def delayed(stack: ExitStack, url: str, delay_ms: float) -> str:
    """`url` through a `benchmarks.delay_proxy` of its own (stopped with the stack)."""
    parts = urlsplit(url)
    listen = wp.free_port()
    command = [sys.executable, "-m", "benchmarks.delay_proxy", "--listen", str(listen), "--delay-ms", str(delay_ms)]
    command += ["--to", f"{parts.hostname}:{parts.port or 5432}"]
    proxy = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1])
    stack.callback(proxy.wait)
    stack.callback(proxy.terminate)
    proxied = urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.port}", f":{listen}")))
    for _ in range(100):
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", listen)).close()
            return proxied
        time.sleep(0.05)
    raise SystemExit("the delay proxy did not start")


def serve(
    stack: ExitStack, name: str, tree: Path, clients: int, delay_ms: float, store: str = "postgres", workers: int = 0
) -> Served:
    url = stack.enter_context(database(store, migrated=False))
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    env = dict(os.environ, PYTHONPATH=str(tree), CHAINMAIL_DATABASE_URL=url, CHAINMAIL_API_ACCESS_TOKEN=wp.TOKEN)
    if workers:
        env["CHAINMAIL_WORKERS"] = str(workers)
    env.update(CHAINMAIL_VAR_DIR=str(folder), CHAINMAIL_EMAIL_DOMAIN="example.com")
    # `python -m` puts its working directory first on the path, before PYTHONPATH: each side runs in its tree,
    # or both would serve the checkout the benchmark was started from
    served = subprocess.run(
        [sys.executable, "-c", "import chainmail; print(chainmail.__file__)"],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not Path(served).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"{name}: {tree} would serve {served}")
    subprocess.run(
        [sys.executable, "-m", "chainmail.cli", "migrate"], env=env, cwd=tree, check=True, capture_output=True
    )
    if delay_ms > 0:
        env["CHAINMAIL_DATABASE_URL"] = delayed(stack, url, delay_ms)
        round_trip = measure_round_trip(env["CHAINMAIL_DATABASE_URL"])
        print(f"{name}: PostgreSQL behind a {delay_ms:g} ms each way proxy, SELECT 1 median {round_trip:.2f} ms")
    port = wp.free_port()
    command = [sys.executable, "-m", "chainmail.cli", "serve"]
    stack.enter_context(
        wp.server(name, command, {**env, "CHAINMAIL_PORT": str(port)}, port, "/api/health", folder, cwd=tree)
    )
    target = wp.Target(store, port, 0, wp.Api(port))
    database_name = url.rsplit("/", 1)[1] if store == "postgres" else ""  # SQLite: no backends to count
    return Served(name, port, database_name, wp.chainmail_cycles(target, wp.prepare(target.api, clients)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the version to compare against")
    parser.add_argument("--after", type=Path, default=Path(wp.chainmail.__file__).resolve().parents[1])
    parser.add_argument("--ops", default="upload,flag,points,submit,user,listing,leaderboard")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--db-delay-ms", type=float, default=0.0, help="PostgreSQL's added latency, each way")
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: chainmail's setting)")
    args = parser.parse_args()
    if args.store == "sqlite" and args.db_delay_ms:
        raise SystemExit("--db-delay-ms needs PostgreSQL")
    print(f"load generator: {wp.wrk_version()}; machine: {os.cpu_count()} cores")
    print(f"before: {args.before}; after: {args.after}; {args.rounds} alternating rounds of {args.seconds:g} s")
    with ExitStack() as stack:
        sides = [
            serve(stack, "before", args.before, args.clients, args.db_delay_ms, args.store, args.workers),
            serve(stack, "after", args.after, args.clients, args.db_delay_ms, args.store, args.workers),
        ]
        head = f"{'before: req/s   p99  CPU ms':>32}{'after: req/s   p99  CPU ms':>32}{'after/before':>14}"
        print(f"\n  {'':12}{'clients':>8}   {head}")
        failed = 0
        for op in args.ops.split(","):
            if op not in sides[0].cycles:
                raise SystemExit(f"unknown operation {op!r}: one of {', '.join(sides[0].cycles)}")
            rounds: dict[str, list[tuple[float, float, float]]] = {s.name: [] for s in sides}
            for number in range(args.rounds):
                for served in sides if number % 2 == 0 else sides[::-1]:
                    before = cpu_seconds(served.port, served.database)
                    result = wp.drive(served.port, args.clients, served.cycles[op], args.seconds, f"s{number}")
                    spent = cpu_seconds(served.port, served.database) - before
                    answered = max(len(result.latencies), 1)
                    rounds[served.name].append((result.rate, result.p99, spent / answered * 1000))
                    failed += result.failed
            medians = {name: [statistics.median(r[i] for r in rs) for i in range(3)] for name, rs in rounds.items()}
            b, a = medians["before"], medians["after"]
            print(
                f"  {op:12}{args.clients:>8}   {b[0]:>14.1f}{b[1]:>7.1f}{b[2]:>11.2f}"
                f"{a[0]:>14.1f}{a[1]:>7.1f}{a[2]:>11.2f}{a[0] / b[0]:>14.3f}"
            )
    print(f"\n  answers not 2xx: {failed}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
