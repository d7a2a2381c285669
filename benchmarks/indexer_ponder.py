"""chainmail against Ponder on the same anvil chain and the same PostgreSQL server, side by side.

Run: (cd benchmarks/ponder && npm ci) then .venv/bin/python -m benchmarks.indexer_ponder [--events 100000]
Both backfill every MailSent log of the chain into PostgreSQL from block 0: chainmail with
`ChainIndexer.sync()` (event store + read models), Ponder 0.16 (`ponder start`, its `mails` table) timed
from process start until `/ready` answers 200, minus its start-up measured on an empty chain.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import requests

from benchmarks._stores import PG_ADMIN
from benchmarks.indexer_backfill import backfill, build_chain
from tests.chain.anvil import Anvil, free_port

PONDER_APP = Path(__file__).with_name("ponder")


def ponder_backfill(anvil: Anvil, mailer: str, events: int, schema_db: str) -> tuple[float, float]:
    """Seconds from `ponder start` to `/ready`, after checking the `mails` table holds every event, and the
    CPU seconds Ponder's processes used until they exited."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": schema_db,
        "PONDER_RPC_URL": anvil.url,
        "MAILER_ADDRESS": mailer,
        "END_BLOCK": str(anvil.head()),
        "PONDER_TELEMETRY_DISABLED": "true",
    }
    log = Path(f"/tmp/ponder-{port}.log")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PONDER_APP / "node_modules/.bin/ponder"), "start", "--schema", "bench", "--port", str(port)],
            cwd=PONDER_APP,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"ponder exited: {log.read_text()[-3000:]}")
                try:
                    if requests.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            seconds = time.perf_counter() - start
        finally:
            process.terminate()
            process.wait(timeout=30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with psycopg.connect(schema_db) as conn:
        count = conn.execute("SELECT count(*) FROM bench.mails").fetchone()[0]  # type: ignore[index]
    assert count == events, (count, events)
    return seconds, cpu


def fresh_pg() -> str:
    name = f"chainmail_ponder_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_pg(url: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-tx", type=int, default=500)
    args = parser.parse_args()
    if not (PONDER_APP / "node_modules/.bin/ponder").exists():
        raise SystemExit("install the Ponder app first: (cd benchmarks/ponder && npm ci)")

    empty = Anvil(31337)
    try:
        mailer = empty.deploy("MailerEvents").address
        empty.mine(100)
        url = fresh_pg()
        try:
            startup, startup_cpu = ponder_backfill(empty, mailer, 0, url)
        finally:
            drop_pg(url)
    finally:
        empty.stop()
    print(f"ponder start-up on an empty chain: {startup:.1f} s (subtracted below)")

    anvil = Anvil(31337, "--gas-limit", "300000000")
    try:
        mailer = build_chain(anvil, args.events, args.per_tx)
        anvil.mine(100)  # Ponder backfills only up to the finalized block (head - 64 on anvil); the rest is live
        url = fresh_pg()
        try:
            total, total_cpu = ponder_backfill(anvil, mailer, args.events, url)
        finally:
            drop_pg(url)
        ponder_rate = args.events / max(total - startup, 1e-9)
        took = total - startup
        cpu = max(total_cpu - startup_cpu, 0.0)
        print(
            f"ponder   {args.events:,} events in {took:.1f} s (+{startup:.1f} s start-up) = "
            f"{ponder_rate:,.0f} events/s (CPU of its processes {cpu:.1f} s = "
            f"{1e6 * cpu / args.events:.0f} us/event, start-up's subtracted)"
        )
        chainmail_rate = backfill("postgres", anvil, mailer, args.events, 10, 4)
        print(f"chainmail/ponder on PostgreSQL: {chainmail_rate / ponder_rate:.2f}x")
        print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        anvil.stop()


if __name__ == "__main__":
    main()
