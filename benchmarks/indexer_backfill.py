"""Backfill rate of `chainmail index` on a real anvil chain full of Mailer events, on both stores.

Run: .venv/bin/python -m benchmarks.indexer_backfill [--events 100000] [--per-tx 500] [--range 10] [--processes N]
Builds the chain once (MailerEvents.sendMany: `per-tx` MailSent logs per transaction, one block each),
then indexes it from block 0 into a fresh database of each store and prints events/s, with the time
spent in eth_getLogs, in decoding, in event-store appends and in the read-model catch-up.
Published peers for scale (stack.md §4.1): Ponder ~115 ev/s and Envio ~9,300 ev/s on Envio's Uniswap
benchmark (RPC-bound, mainnet); eventsourcing batched appends here 5,900-7,200 ev/s on PostgreSQL (§1.8).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from benchmarks._stores import database
from chainmail.config import Settings
from chainmail.domain.chain.application import Chain
from chainmail.indexer.ingest import ChainIndexer
from chainmail.system import System
from tests.chain.anvil import Anvil
from tests.chain.harness import spec_for


class Timer:
    """Wall time per wrapped call, and the CPU time of the calling thread in it (the rest is waiting: for the
    database server, the node, or the GIL)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
                self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - cpu

        return timed


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_chain(anvil: Anvil, events: int, per_tx: int) -> str:
    mailer = anvil.deploy("MailerEvents")
    start = time.perf_counter()
    for i in range(0, events, per_tx):
        count = min(per_tx, events - i)
        anvil.send(mailer.contract.functions.sendMany(anvil.accounts[1 + (i // per_tx) % 5], f"bench {i}", count), 0)
    seconds = time.perf_counter() - start
    print(f"chain: {events:,} MailSent logs in {anvil.head():,} blocks, made in {seconds:.1f} s")
    return mailer.address


def backfill(
    store: str,
    anvil: Anvil,
    mailer: str,
    events: int,
    block_range: int,
    concurrency: int,
    processes: int | None = None,
) -> float:
    """Index the chain into a fresh database of `store`; prints and returns events/s (read models included:
    folded inside each save)."""
    with database(store) as url:
        system = System(Settings(database_url=url, email_domain="example.com"))
        try:
            spec = spec_for(anvil, [mailer], confirmations=0, max_block_range=block_range, concurrency=concurrency)
            chain = system.context(Chain)
            worker = ChainIndexer(chain, system.engine, spec)
            timer = Timer()
            if processes is not None:
                worker._processes = processes
            # reading pages: in threads until the backfill has seen 20,000 logs, then in worker processes
            reader = worker.reader
            reader.rpc.logs = timer.wrap("eth_getLogs (threads)", reader.rpc.logs)  # type: ignore[method-assign]
            reader.records = timer.wrap("decode (threads)", reader.records)  # type: ignore[method-assign]
            system.projections.fold_inline = timer.wrap("read models", system.projections.fold_inline)  # type: ignore[method-assign]
            chain.record_logs = timer.wrap("append + read models", chain.record_logs)  # type: ignore[method-assign]
            start, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
            cursor = worker.sync()
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            children = _children_cpu() - children  # the decoding processes, counted once they have exited
            assert cursor.block == anvil.head(), (cursor.block, anvil.head())
            assert worker.logs_written == events, worker.logs_written
        finally:
            system.close()
    mode = f"({worker._processes} decoding processes) "
    parts = ", ".join(
        f"{k} {v:.1f} s" + (f" ({timer.cpu[k]:.1f} s CPU)" if k in timer.cpu else "") for k, v in timer.seconds.items()
    )
    appends = timer.seconds.get("append + read models", 0) - timer.seconds.get("read models", 0)
    print(
        f"{store:8} {mode}{events:,} events in {seconds:.1f} s = {events / seconds:,.0f} events/s "
        f"(process CPU {cpu:.1f} s = {1e6 * cpu / events:.0f} us/event, decoding processes "
        f"{children:.1f} s = {1e6 * children / events:.0f} us/event) "
        f"(range {block_range} blocks, {concurrency} fetchers, {worker.rpc.requests} RPC requests; {parts}; "
        f"event-store appends alone {appends:.1f} s = {events / max(appends, 1e-9):,.0f} events/s)"
    )
    return events / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-tx", type=int, default=500)
    parser.add_argument("--range", type=int, default=10, help="blocks per eth_getLogs")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--processes", type=int, help="decoding processes (default: the chain setting's)")
    args = parser.parse_args()
    anvil = Anvil(31337, "--gas-limit", "300000000")
    try:
        mailer = build_chain(anvil, args.events, args.per_tx)
        for store in args.stores.split(","):
            backfill(store, anvil, mailer, args.events, args.range, args.concurrency, args.processes)
    finally:
        anvil.stop()


if __name__ == "__main__":
    main()
