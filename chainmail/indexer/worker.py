"""`chainmail index`: a thread per chain, each waiting for its chain's writer lock, then indexing until
stopped; a progress bar per chain while it backfills."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence

import structlog
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from chainmail.config import Settings
from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.chains import ChainSpec, chain_specs
from chainmail.heap import freeze_startup_heap
from chainmail.indexer.ingest import ChainIndexer
from chainmail.indexer.ingest import Progress as ChainProgress
from chainmail.indexer.lock import ChainLock
from chainmail.system import System

log = structlog.get_logger(__name__)


def index_chain(system: System, spec: ChainSpec, stop: Callable[[], bool], on_progress=None) -> None:  # type: ignore[no-untyped-def]
    """Be the chain's only writer (waiting for a running one to go away), then index until `stop()`."""
    with ChainLock(system.settings.database_url, spec.chain_id) as lock:
        log.info("waiting for the chain's writer lock", chain=spec.chain_id)
        if not lock.acquire(stop):
            return
        log.info("indexing", chain=spec.chain_id, name=spec.name, rpc=spec.public_rpc_url)
        indexer = ChainIndexer(system.context(Chain), system.engine, spec, on_progress=on_progress)
        try:
            indexer.run(stop)
        except Exception:
            log.exception("indexing stopped on an error", chain=spec.chain_id)
            raise
        log.info("stopped", chain=spec.chain_id)


def index_chains(
    system: System, specs: Sequence[ChainSpec], stop: Callable[[], bool], console: Console | None = None
) -> None:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[rates]}"),
    )
    with Progress(*columns, console=console, transient=False, disable=console is None) as bars:
        tasks: dict[int, TaskID] = {
            spec.chain_id: bars.add_task(f"{spec.name} ({spec.chain_id})", total=None, rates="") for spec in specs
        }

        def reporter(spec: ChainSpec) -> Callable[[ChainProgress], None]:
            def report(p: ChainProgress) -> None:
                eta = p.eta_seconds
                bars.update(
                    tasks[spec.chain_id],
                    total=max(p.head_block - p.start_block + 1, 1),
                    completed=max(p.indexed_block - p.start_block + 1, 0),
                    rates=f"block {p.indexed_block:,}/{p.head_block:,} ({p.behind:,} behind)"
                    f"  {p.blocks_per_second:,.0f} blocks/s  {p.logs_per_second:,.0f} events/s"
                    f"  ETA {'-' if eta is None else _duration(eta)}",
                )

            return report

        threads = [
            threading.Thread(
                target=index_chain,
                args=(system, spec, stop, reporter(spec)),
                name=f"index-{spec.chain_id}",
                daemon=True,
            )
            for spec in specs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}"


def run_index(settings: Settings, chain_ids: Sequence[int] | None, console: Console) -> None:
    """The `chainmail index` command: every configured chain (or the chosen ones) until SIGTERM/SIGINT."""
    specs = chain_specs(settings.chains, enable_testnets=settings.enable_testnets)
    if chain_ids:
        unknown = set(chain_ids) - {s.chain_id for s in specs}
        if unknown:
            raise SystemExit(
                f"chain {', '.join(map(str, sorted(unknown)))} is not configured for indexing "
                "(needs [chains.<id>] with rpc_url; testnets also need enable_testnets)"
            )
        specs = [s for s in specs if s.chain_id in chain_ids]
    bare = [s for s in specs if not s.deployments]
    if bare:
        # eth_getLogs without an address would fetch every log of the chain
        raise SystemExit(f"no contract to index on chain {', '.join(str(s.chain_id) for s in bare)}: set its mailer")
    if not specs:
        raise SystemExit("no chain to index: configure [chains.<id>] rpc_url (and mailer for local chains)")
    stopping = threading.Event()

    def stop_on_signal(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)
    system = System(settings)
    try:
        console.print("indexing " + ", ".join(f"{s.name} ({s.chain_id}) from block {s.start_block}" for s in specs))
        freeze_startup_heap()
        index_chains(system, specs, stopping.is_set, console if console.is_terminal else None)
    finally:
        system.close()
