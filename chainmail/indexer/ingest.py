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

TARGET_LOGS = 5_000  # logs per page above which ranges stop growing back
FORGET_REFUSAL_AFTER = 100  # pages after which a refused range size may be tried again


class ChainMismatch(RuntimeError):
    """The node serves a different chain than the one configured."""


@dataclass
class Progress:
    start_block: int
    indexed_block: int
    head_block: int
    logs: int
    blocks_per_second: float
    logs_per_second: float


class ChainIndexer:
    """Indexes one chain into the chain context; a single instance per chain writes at a time."""

    # Logs a backfill reads in threads before it starts worker processes (which take a moment to start).
    PROCESSES_AFTER_LOGS = 20_000

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
        self.range = spec.max_block_range
        self._refused_at: int | None = None
        self._since_refusal = 0
        self.on_progress = on_progress
        self.cursor: ChainCursor | None = None
        self.logs_written = 0
        self._started = time.monotonic()
        self._start_indexed: int | None = None
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
        if self._start_indexed is None:
            self._start_indexed = cursor.block
        if cursor.block >= self.head:
            if cursor.block > self.finalized and cursor.hash is not None:
                tip = self.rpc.header(cursor.block)
                if tip is None or tip["hash"] != cursor.hash:
                    self._revert(cursor)
                    return True
            return False
        if cursor.block < self.finalized:
            self._backfill(cursor, self.finalized, stop)
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
                    while len(pending) < self.spec.concurrency and next_from <= last:
                        to = min(last, next_from + self.range - 1)
                        if pool is not None:
                            pending.append(pool.final_page(next_from, to))
                        else:
                            pending.append(threads.submit(self.reader.final_page, next_from, to))
                        next_from = to + 1
                    page = pending.popleft().result()
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
        """Size the ranges to come from how eth_getLogs calls went: halve below a refused size; grow back up
        to `max_block_range` while pages stay small, but not to a size refused lately."""
        for size, count in lessons:
            if count is None:
                self.range = max(1, min(self.range, size // 2))
                self._refused_at, self._since_refusal = min(self._refused_at or size, size), 0
                continue
            self._since_refusal += 1
            if self._refused_at is not None and self._since_refusal > FORGET_REFUSAL_AFTER:
                self._refused_at = None  # the busy stretch of chain may be over: probe bigger ranges again
            if count < TARGET_LOGS and size >= self.range:
                grown = min(self.spec.max_block_range, self.range * 2)
                if self._refused_at is not None:
                    grown = max(self.range, min(grown, self._refused_at - 1))
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
        self.chain.record_logs(cursor, page.records, to_block=page.to_block, to_hash=page.to_hash, headers=page.headers)
        self.logs_written += len(page.records)
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

    def _status(self, error: str | None = None) -> None:
        record_head(
            self.engine,
            self.spec.chain_id,
            self.spec.name,
            head=self.head,
            finalized=self.finalized,
            rpc_url=self.spec.public_rpc_url,
            error=error,
            now=datetime.now(UTC),
        )

    def _report(self, cursor: ChainCursor) -> None:
        if self.on_progress is None:
            return
        elapsed = max(time.monotonic() - self._started, 1e-6)
        done = cursor.block - (self._start_indexed if self._start_indexed is not None else cursor.block)
        self.on_progress(
            Progress(
                start_block=self.spec.start_block,
                indexed_block=cursor.block,
                head_block=self.head or cursor.block,
                logs=self.logs_written,
                blocks_per_second=done / elapsed,
                logs_per_second=self.logs_written / elapsed,
            )
        )


def _sleep(seconds: float, stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not stop() and time.monotonic() < deadline:
        time.sleep(min(0.1, deadline - time.monotonic()))
