"""Reading a page of a chain: eth_getLogs over a block range (halved while the node refuses it), the
transactions, timestamps and receipts the logs need, and decoding into `LogRecord`s.

Reading is pure work on the node's answers, so a heavy backfill runs it in worker processes
(`DecodingPool`): parsing and decoding thousands of logs per page would otherwise hold the indexer's
interpreter lock while it appends events and folds read models.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainmail.domain.chain.abi import AbiBook
from chainmail.domain.chain.chains import ChainSpec
from chainmail.domain.chain.cursor import Header
from chainmail.domain.chain.logs import LogRecord
from chainmail.indexer.decoding import decode_log, needs_transaction, to_record
from chainmail.indexer.rpc import JsonRpc, RangeTooLarge

# What one eth_getLogs call taught about range sizes: (blocks asked for, logs returned or None: refused,
# bytes of the answer).
Lesson = tuple[int, int | None, int]


class InconsistentPage(RuntimeError):
    """Headers or logs changed under a page (a reorg while reading it); read it again."""


@dataclass
class Page:
    from_block: int
    to_block: int
    to_hash: str | None
    records: list[LogRecord]
    headers: list[Header] = field(default_factory=list)
    lessons: list[Lesson] = field(default_factory=list)
    requests: int = 0  # RPC requests made for it where they are not counted by the indexer's own client


class PageReader:
    """Reads pages of one chain's indexed contracts through one JSON-RPC client."""

    def __init__(self, spec: ChainSpec, rpc: JsonRpc, book: AbiBook) -> None:
        self.spec, self.rpc, self.book = spec, rpc, book
        self.kinds = {d.address: d.kind for d in spec.deployments}
        self.topics = sorted({t for kind in set(self.kinds.values()) for t in book.topics(kind)})

    def final_page(self, from_block: int, to_block: int) -> Page:
        """A page of final blocks: no reorg checks, only the last block's hash for the checkpoint."""
        lessons: list[Lesson] = []
        raw = self.logs(from_block, to_block, lessons)
        headers: dict[int, Mapping[str, Any]] = {}
        records = self.records(raw, {}, headers_of=[to_block], headers=headers)
        return Page(from_block, to_block, headers[to_block]["hash"], records, lessons=lessons)

    def logs(self, from_block: int, to_block: int, lessons: list[Lesson]) -> list[dict[str, Any]]:
        """eth_getLogs over the range, split in halves (recursively) while the node says it is too much;
        each call's outcome goes to `lessons`, from which the indexer sizes the ranges to come."""
        size = to_block - from_block + 1
        try:
            raw = self.rpc.logs(from_block, to_block, list(self.kinds), self.topics)
        except RangeTooLarge:
            if size == 1:
                raise
            lessons.append((size, None, 0))
            middle = from_block + size // 2 - 1
            return self.logs(from_block, middle, lessons) + self.logs(middle + 1, to_block, lessons)
        lessons.append((size, len(raw), getattr(self.rpc, "received", 0)))
        return raw

    def records(
        self,
        raw: Sequence[Mapping[str, Any]],
        times: Mapping[int, int],
        *,
        headers_of: Sequence[int] = (),
        headers: dict[int, Mapping[str, Any]] | None = None,
    ) -> list[LogRecord]:
        """The indexed logs of `raw`, decoded, with what their meaning needs from transactions and blocks:
        each transaction and each block header asked for once, all in one batch request (with the headers
        of `headers_of` as well, put in `headers`)."""
        decoded = []
        for item in raw:
            if item.get("removed"):
                continue
            found = decode_log(item, self.spec.chain_id, self.kinds, self.book)
            if found is not None:
                decoded.append((item, *found))
        tx_hashes = sorted({item["transactionHash"] for item, entry, args in decoded if needs_transaction(entry, args)})
        numbers = {int(item["blockNumber"], 16) for item, _, _ in decoded}
        times = dict(times)
        for item, _, _ in decoded:
            if item.get("blockTimestamp"):
                times.setdefault(int(item["blockNumber"], 16), int(item["blockTimestamp"], 16))
        wanted = sorted({n for n in numbers if n not in times} | set(headers_of))
        calls = [("eth_getTransactionByHash", [h]) for h in tx_hashes]
        calls += [("eth_getBlockByNumber", [hex(n), False]) for n in wanted]
        answers = self.rpc.batch(calls) if calls else []
        txs = dict(zip(tx_hashes, answers[: len(tx_hashes)], strict=True))
        for n, header in zip(wanted, answers[len(tx_hashes) :], strict=True):
            if header is None:
                raise InconsistentPage(f"block {n} not found")
            times.setdefault(n, int(header["timestamp"], 16))
            if headers is not None:
                headers[n] = header
        if not decoded:
            return []
        receipts = self._receipts(sorted(numbers), {item["blockHash"] for item, _, _ in decoded})
        records = [
            to_record(
                item,
                self.spec.chain_id,
                self.kinds[str(item["address"]).lower()],
                entry,
                args,
                times[int(item["blockNumber"], 16)],
                txs.get(item["transactionHash"]),
                receipts.get(item["transactionHash"]),
            )
            for item, entry, args in decoded
        ]
        records.sort(key=lambda r: (r.block_number, r.log_index))
        return records

    def _receipts(self, numbers: list[int], block_hashes: set[str]) -> dict[str, Mapping[str, Any]]:
        """The receipts of the transactions in these blocks by hash, when the chain is set to fetch them."""
        if not self.spec.receipts or not numbers:
            return {}
        receipts: dict[str, Mapping[str, Any]] = {}
        for n, block in zip(numbers, self.rpc.block_receipts(numbers), strict=True):
            if block is None:
                raise InconsistentPage(f"no receipts for block {n}")
            for receipt in block:
                if receipt.get("blockHash") not in block_hashes:
                    raise InconsistentPage(f"receipts of block {n} are not of the block the logs came from")
                receipts[receipt["transactionHash"]] = receipt
        return receipts


class DecodingPool:
    """Worker processes reading final pages, each with its own RPC client and an equal share of the chain's
    request rate.

    Each worker is `python -m chainmail.indexer.pages`, fed block ranges and answering pages, pickled over
    its stdin and stdout, and served by one thread here. Plain child processes rather than
    `multiprocessing`: spawning would import the parent's main module in every worker (the whole
    application), and forking a process with threads and database connections is unsafe.
    """

    def __init__(self, spec: ChainSpec, rpc_url: str, processes: int) -> None:
        self._requests: queue.SimpleQueue[tuple[Future[Page], int, int] | None] = queue.SimpleQueue()
        self._workers = [
            _Worker(spec, rpc_url, spec.max_rps / processes, self._requests, name=f"decoder-{spec.chain_id}-{i}")
            for i in range(processes)
        ]

    def final_page(self, from_block: int, to_block: int) -> Future[Page]:
        future: Future[Page] = Future()
        self._requests.put((future, from_block, to_block))
        return future

    def close(self) -> None:
        for _ in self._workers:
            self._requests.put(None)
        for worker in self._workers:
            worker.stop()


class _Worker:
    def __init__(
        self,
        spec: ChainSpec,
        rpc_url: str,
        max_rps: float,
        requests: queue.SimpleQueue[tuple[Future[Page], int, int] | None],
        name: str,
    ) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "chainmail.indexer.pages"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in, self._out = self.process.stdin, self.process.stdout
        pickle.dump((spec, rpc_url, max_rps), self._in, protocol=pickle.HIGHEST_PROTOCOL)
        self._in.flush()
        self._requests = requests
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        broken: str | None = None
        while (request := self._requests.get()) is not None:
            future, from_block, to_block = request
            if not future.set_running_or_notify_cancel():
                continue
            if broken is not None:  # keep taking requests, failing them, so none waits for a dead worker
                future.set_exception(RuntimeError(broken))
                continue
            try:
                pickle.dump((from_block, to_block), self._in, protocol=pickle.HIGHEST_PROTOCOL)
                self._in.flush()
                ok, answer = pickle.load(self._out)
            except Exception as error:  # a pipe closed, the process gone, an answer unreadable
                broken = f"the decoding process failed ({type(error).__name__}: {error})"
                future.set_exception(RuntimeError(broken))
                continue
            if ok:
                future.set_result(answer)
            else:
                future.set_exception(answer)

    def stop(self) -> None:
        self._thread.join(timeout=60)
        with contextlib.suppress(OSError):  # a worker that died has closed its end already
            self._in.close()  # the worker exits at the end of its input
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._out.close()


def _serve_pages() -> None:
    """A decoding worker: reads (spec, RPC URL, rate), then answers each (from_block, to_block) with
    (True, page) or (False, exception), until its input ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop: it closes our input
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed goes to stderr, not into the answers
    requests = sys.stdin.buffer
    spec, rpc_url, max_rps = pickle.load(requests)
    reader = PageReader(spec, JsonRpc(rpc_url, max_rps=max_rps), AbiBook())
    while True:
        try:
            from_block, to_block = pickle.load(requests)
        except EOFError:
            return
        before = reader.rpc.requests
        try:
            page = reader.final_page(from_block, to_block)
        except Exception as error:
            answer: tuple[bool, Any] = (False, _picklable(error))
        else:
            page.requests = reader.rpc.requests - before
            answer = (True, page)
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    # Run as a script this file is `__main__`: serve from the module proper, so that what is pickled names
    # `chainmail.indexer.pages.Page`, which the parent can load.
    from chainmail.indexer import pages

    pages._serve_pages()
