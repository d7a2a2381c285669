"""One chain's ingestion loop: backfill final blocks over adaptive eth_getLogs ranges with bounded
concurrency, then follow the head block by block, checking parent hashes and reverting on reorgs."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine

from chainmail.domain.chain.abi import AbiBook
from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.chains import ChainSpec
from chainmail.domain.chain.cursor import ChainCursor
from chainmail.indexer.pages import DecodingPool, InconsistentPage, Lesson, Page, PageReader
from chainmail.indexer.rpc import JsonRpc
from chainmail.projections.blocks import record_head

log = structlog.get_logger(__name__)

# Ranges are sized from the density the chain showed so far, so that one eth_getLogs answer holds about
# this many logs and bytes whatever the chain (a dense chain's 2,000 blocks can hold 100,000 logs)...
TARGET_LOGS = 5_000
TARGET_BYTES = 8 * 1024 * 1024
# ...and a fetched range is saved in pages of at most this many logs (cut at block boundaries), so rows
# appear while the rest of a range is still being appended and folded.
SAVE_LOGS = 5_000
FORGET_REFUSAL_AFTER = 100  # pages after which a refused range size may be tried again
VACUUM_AFTER_LOGS = 10_000  # a backfill that wrote this many logs ends with a VACUUM (ANALYZE) on PostgreSQL
FIRST_RANGE = 100  # blocks of the first eth_getLogs of a backfill, before the chain's density is known


class ChainMismatch(RuntimeError):
    """The node serves a different chain than the one configured."""


@dataclass
class Progress:
    start_block: int
    indexed_block: int
    head_block: int
    logs: int  # logs written since this indexer started
    blocks_per_second: float  # over the last minute (or since start)
    logs_per_second: float

    @property
    def behind(self) -> int:
        """Blocks between the checkpoint and the head."""
        return max(self.head_block - self.indexed_block, 0)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds to reach the head at the current pace (None: no pace yet)."""
        if not self.behind:
            return 0.0
        return self.behind / self.blocks_per_second if self.blocks_per_second > 0 else None


RATE_WINDOW = 60.0  # seconds over which the reported rates are measured
STATUS_EVERY = 1.0  # seconds between progress writes to the chain's status row


class ChainIndexer:
    """Indexes one chain into the chain context; a single instance per chain writes at a time."""

    # Logs a backfill reads in threads before it starts worker processes (which take a moment to start).
    PROCESSES_AFTER_LOGS = 5_000

    def __init__(
        self,
        chain: Chain,
        engine: Engine,
        spec: ChainSpec,
        *,
        rpc: JsonRpc | None = None,
        book: AbiBook | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        if not spec.rpc_url and rpc is None:
            raise ValueError(f"chain {spec.chain_id} has no RPC URL")
        self.chain, self.engine, self.spec = chain, engine, spec
        self.reader = PageReader(spec, rpc or JsonRpc(spec.rpc_url or "", max_rps=spec.max_rps), book or AbiBook())
        # worker processes read pages of heavy backfills; they decode with the standard ABI book
        self._processes = spec.decode_processes if book is None else 0
        # a first range small enough for a dense chain; answers then size the rest (`_learn`)
        self.range = min(spec.max_block_range, FIRST_RANGE)
        self._sized = False
        self._refused_at: int | None = None
        self._since_refusal = 0
        self.on_progress = on_progress
        self.cursor: ChainCursor | None = None
        self.logs_written = 0
        self._samples: deque[tuple[float, int, int]] = deque()  # (time, checkpoint block, logs written)
        self._status_written = 0.0
        self.head: int | None = None
        self.finalized: int | None = None

    @property
    def rpc(self) -> JsonRpc:
        return self.reader.rpc

    @rpc.setter
    def rpc(self, rpc: JsonRpc) -> None:
        self.reader.rpc = rpc

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, stop: Callable[[], bool]) -> None:
        """Index until `stop()`; node errors are recorded in the chain's status and retried (a node serving
        another chain is not: that stops the worker)."""
        checked, backoff = False, 1.0
        while not stop():
            try:
                if not checked:
                    self.check_chain_id()
                    checked = True
                advanced = self.step(stop)
                backoff = 1.0
            except ChainMismatch as mismatch:
                self._status(error=str(mismatch))
                raise
            except Exception as error:  # any failure: record it, wait, start the step again from the store
                log.warning("indexing step failed", chain=self.spec.chain_id, error=str(error))
                self.cursor = None
                self._status(error=str(error)[:500])
                _sleep(backoff, stop)
                backoff = min(backoff * 2, 60.0)
                continue
            if not advanced:
                _sleep(self.spec.polling_interval, stop)

    def sync(self, stop: Callable[[], bool] = lambda: False) -> ChainCursor:
        """Index up to the node's current head (tests and one-off runs); returns the cursor."""
        self.check_chain_id()
        while not stop():
            self.step(stop)
            cursor = self._cursor()
            if self.head is not None and cursor.block >= self.head:
                break
        return self._cursor()

    def check_chain_id(self) -> None:
        served = self.rpc.chain_id()
        if served != self.spec.chain_id:
            raise ChainMismatch(f"{self.spec.name}: the RPC node serves chain {served}, not {self.spec.chain_id}")

    def step(self, stop: Callable[[], bool] = lambda: False) -> bool:
        """One round: backfill final blocks, or one page near the head, or a reorg check at the tip.
        True when the checkpoint moved."""
        cursor = self._cursor()
        self.head = self.rpc.block_number()
        self.finalized = self._finalized(self.head)
        self._status()
        if not self._samples:  # the pace is measured from here
            self._samples.append((time.monotonic(), cursor.block, self.logs_written))
        if cursor.block >= self.head:
            if cursor.block > self.finalized and cursor.hash is not None:
                tip = self.rpc.header(cursor.block)
                if tip is None or tip["hash"] != cursor.hash:
                    self._revert(cursor)
                    return True
            return False
        if cursor.block < self.finalized:
            written = self.logs_written
            self._backfill(cursor, self.finalized, stop)
            if self.logs_written - written >= VACUUM_AFTER_LOGS and not stop():
                vacuum_chain_tables(self.engine)
        else:
            self._follow(cursor, self.head)
        return True

    # -- backfill: final blocks, no reorg checks, several ranges in flight --------------------------

    def _backfill(self, cursor: ChainCursor, last: int, stop: Callable[[], bool]) -> None:
        """Pages of final blocks, `concurrency` of them read at once and saved in order. Reading starts in
        threads; once this backfill has seen `PROCESSES_AFTER_LOGS` logs, it moves to worker processes."""
        pending: deque[Future[Page]] = deque()
        next_from, logs = cursor.block + 1, 0
        pool: DecodingPool | None = None
        with ThreadPoolExecutor(
            max_workers=self.spec.concurrency, thread_name_prefix=f"logs-{self.spec.chain_id}"
        ) as threads:
            try:
                while (pending or next_from <= last) and not stop():
                    if pool is None and self._processes and logs >= self.PROCESSES_AFTER_LOGS:
                        processes = min(self._processes, self.spec.concurrency)
                        log.info("reading pages in decoding processes", chain=self.spec.chain_id, processes=processes)
                        pool = DecodingPool(self.spec, self.rpc.url, processes)
                    # until a first answer shows the chain's density, one range at a time: a guess too big
                    # for a dense chain would otherwise be fetched `concurrency` times over
                    in_flight = self.spec.concurrency if self._sized else 1
                    while len(pending) < in_flight and next_from <= last:
                        to = min(last, next_from + self.range - 1)
                        if pool is not None:
                            pending.append(pool.final_page(next_from, to))
                        else:
                            pending.append(threads.submit(self.reader.final_page, next_from, to))
                        next_from = to + 1
                    page = pending.popleft().result()
                    # ranges read meanwhile join the save while it stays small (a sparse chain's ranges hold
                    # a few logs each: one save for many of them, not a save each)
                    while pending and pending[0].done() and len(page.records) < SAVE_LOGS:
                        following = pending[0].result()
                        if len(page.records) + len(following.records) > SAVE_LOGS:
                            break
                        pending.popleft()
                        page = _joined(page, following)
                    self._learn(page.lessons)
                    self.rpc.requests += page.requests
                    self._save(cursor, page)
                    logs += len(page.records)
            finally:
                for future in pending:
                    future.cancel()
                if pool is not None:
                    pool.close()

    def _learn(self, lessons: Sequence[Lesson]) -> None:
        """Size the ranges to come from how eth_getLogs calls went: halve below a refused size; otherwise
        aim at `TARGET_LOGS` logs and `TARGET_BYTES` bytes per answer at the density just seen (growing at
        most twofold a step), within `max_block_range` and below a size refused lately."""
        for size, count, received in lessons:
            if count is None:
                self.range = max(1, min(self.range, size // 2))
                self._refused_at, self._since_refusal = min(self._refused_at or size, size), 0
                continue
            self._sized = True
            self._since_refusal += 1
            if self._refused_at is not None and self._since_refusal > FORGET_REFUSAL_AFTER:
                self._refused_at = None  # the busy stretch of chain may be over: probe bigger ranges again
            # the range that would hold about the target at this density (no limit from an empty answer)
            wanted = self.spec.max_block_range
            if count:
                wanted = min(wanted, size * TARGET_LOGS // count)
            if received:
                wanted = min(wanted, size * TARGET_BYTES // received)
            if wanted >= self.range:
                if size < self.range:
                    continue  # a short range (a split half, the end of the chain) says little of longer ones
                wanted = min(wanted, self.range * 2)
            grown = max(1, min(self.spec.max_block_range, wanted))
            if self._refused_at is not None:
                grown = min(grown, max(1, self._refused_at - 1))
            self.range = grown

    # -- near the head: every header checked, reorgs found and reverted -----------------------------

    def _follow(self, cursor: ChainCursor, head: int) -> None:
        from_block = cursor.block + 1
        to_block = min(head, cursor.block + self.range)
        numbers = list(range(max(cursor.block, 0), to_block + 1))
        headers = {n: h for n, h in zip(numbers, self.rpc.headers(numbers), strict=True) if h is not None}
        if len(headers) != len(numbers):
            raise InconsistentPage("missing headers near the head")
        if cursor.hash is not None and headers[cursor.block]["hash"] != cursor.hash:
            self._revert(cursor)
            return
        for n in range(from_block, to_block + 1):
            if n - 1 in headers and headers[n]["parentHash"] != headers[n - 1]["hash"]:
                raise InconsistentPage(f"block {n} does not follow block {n - 1}")
        lessons: list[Lesson] = []
        raw = self.reader.logs(from_block, to_block, lessons)
        self._learn(lessons)
        for item in raw:
            number = int(item["blockNumber"], 16)
            if number > to_block or headers[number]["hash"] != item["blockHash"]:
                raise InconsistentPage(f"log of block {number} is not on the chain just read")
        page_headers = [
            [n, headers[n]["hash"], headers[n]["parentHash"], int(headers[n]["timestamp"], 16)]
            for n in range(from_block, to_block + 1)
        ]
        times = {n: int(headers[n]["timestamp"], 16) for n in range(from_block, to_block + 1)}
        records = self.reader.records(raw, times)
        self._save(cursor, Page(from_block, to_block, headers[to_block]["hash"], records, page_headers))

    def _revert(self, cursor: ChainCursor) -> None:
        """Walk back over the recorded hashes to the newest block the node still has, and revert after it."""
        recent = cursor.recent
        numbers = sorted((n for n in recent if n <= cursor.block), reverse=True)
        ancestor = None
        for offset in range(0, len(numbers), 100):
            chunk = numbers[offset : offset + 100]
            for n, header in zip(chunk, self.rpc.headers(chunk), strict=True):
                if header is not None and header["hash"] == recent[n]:
                    ancestor = n
                    break
            if ancestor is not None:
                break
        if ancestor is None:
            # Deeper than every hash we kept: start again from the oldest block we could check.
            ancestor = (
                (min(numbers) - 1) if numbers else max(self._finalized(self.head or 0), self.spec.start_block - 1)
            )
            log.error("reorg deeper than the recorded blocks", chain=self.spec.chain_id, reverting_after=ancestor)
        log.warning("reorg", chain=self.spec.chain_id, reverted_from=ancestor + 1, depth=cursor.block - ancestor)
        self.chain.revert_blocks(cursor, ancestor + 1)

    # -- shared ------------------------------------------------------------------------------------

    def _save(self, cursor: ChainCursor, page: Page) -> None:
        if page.from_block != cursor.block + 1:
            raise InconsistentPage(f"page starts at {page.from_block}, the checkpoint is at {cursor.block}")
        records = page.records
        if len(records) > SAVE_LOGS and not page.headers:
            # a final range with many logs: saved in parts ending at a block boundary, each with the hash
            # of its last block (the block of its last log), so rows appear part by part
            start = 0
            while len(records) - start > SAVE_LOGS:
                end = start + SAVE_LOGS
                block = records[end - 1].block_number
                while end < len(records) and records[end].block_number == block:
                    end += 1
                if end == len(records):
                    break
                part = records[start:end]
                self.chain.record_logs(cursor, part, to_block=block, to_hash=part[-1].block_hash)
                self.logs_written += len(part)
                self._report(cursor)
                start = end
            records = records[start:]
        self.chain.record_logs(cursor, records, to_block=page.to_block, to_hash=page.to_hash, headers=page.headers)
        self.logs_written += len(records)
        self._report(cursor)

    def _cursor(self) -> ChainCursor:
        if self.cursor is None:
            self.cursor = self.chain.cursor(self.spec.chain_id, self.spec.start_block)
        return self.cursor

    def _finalized(self, head: int) -> int:
        if self.spec.use_finalized_tag:
            header = self.rpc.header("finalized")
            if header is not None:
                return int(header["number"], 16)
        return max(head - self.spec.confirmations, 0)

    def _status(self, error: str | None = None, progress: Progress | None = None) -> None:
        record_head(
            self.engine,
            self.spec.chain_id,
            self.spec.name,
            head=self.head,
            finalized=self.finalized,
            rpc_url=self.spec.public_rpc_url,
            error=error,
            now=datetime.now(UTC),
            progress=(
                (progress.indexed_block, progress.blocks_per_second, progress.logs_per_second) if progress else None
            ),
        )

    def _report(self, cursor: ChainCursor) -> None:
        """The pace after a save: to `on_progress` each time, to the chain's status row each second."""
        now = time.monotonic()
        samples = self._samples
        samples.append((now, cursor.block, self.logs_written))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW:
            samples.popleft()
        since, block, logs = samples[0]
        elapsed = now - since
        progress = Progress(
            start_block=self.spec.start_block,
            indexed_block=cursor.block,
            head_block=max(self.head or cursor.block, cursor.block),
            logs=self.logs_written,
            blocks_per_second=(cursor.block - block) / elapsed if elapsed > 0 else 0.0,
            logs_per_second=(self.logs_written - logs) / elapsed if elapsed > 0 else 0.0,
        )
        if self.on_progress is not None:
            self.on_progress(progress)
        if now - self._status_written >= STATUS_EVERY or progress.behind == 0:
            self._status_written = now
            self._status(progress=progress)


def vacuum_chain_tables(engine: Engine) -> None:
    """After a bulk backfill on PostgreSQL, VACUUM (ANALYZE) the chain read models' tables, as autovacuum
    would a while later: fresh statistics for the planner, and a visibility map that lets counts (GraphQL's
    totalCount) read the indexes alone instead of every row."""
    if engine.dialect.name != "postgresql":
        return
    from chainmail.domain.chain.application import Chain as ChainContext
    from chainmail.projections.registry import PROJECTIONS

    tables = sorted({t.name for p in PROJECTIONS if ChainContext in getattr(p, "follows", ()) for t in p.tables})
    quote = engine.dialect.identifier_preparer.quote
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM runs outside a transaction
            conn.exec_driver_sql("VACUUM (ANALYZE) " + ", ".join(quote(t) for t in tables))
    except Exception as error:  # worth having, never worth stopping the indexer for
        log.warning("vacuum after the backfill failed", error=str(error))
        return
    log.info("vacuumed the chain read models after the backfill", seconds=round(time.monotonic() - started, 1))


def _joined(first: Page, following: Page) -> Page:
    """Two adjacent pages of final blocks as one."""
    return Page(
        first.from_block,
        following.to_block,
        following.to_hash,
        first.records + following.records,
        lessons=first.lessons + following.lessons,
        requests=first.requests + following.requests,
    )


def _sleep(seconds: float, stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not stop() and time.monotonic() < deadline:
        time.sleep(min(0.1, deadline - time.monotonic()))
