"""A small JSON-RPC client for EVM nodes: batches, a per-chain request rate, and errors sorted into
"ask for a smaller block range" and "the node is unavailable"."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson
import requests
import structlog

from chainmail.domain.chain.chains import redact_url

log = structlog.get_logger(__name__)

# Phrases providers use when an eth_getLogs range returns too much or takes too long
# (Alchemy, Infura, QuickNode, Ankr, Chainstack, geth, erigon, reth).
RANGE_TOO_LARGE = (
    "more than",
    "too many",
    "too large",
    "range is too",
    "exceed",
    "limit",
    "response size",
    "timeout",
    "timed out",
    "block range",
)


class RpcError(Exception):
    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{message} (code {code})" if code is not None else message)
        self.code, self.message = code, message


class RangeTooLarge(RpcError):
    """eth_getLogs asked for too much at once; a smaller block range will do."""


class RpcUnavailable(Exception):
    """The node could not be reached or answered with an HTTP error."""


class RateLimiter:
    """At most `rate` requests per second from all threads, with bursts of up to one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate, self.capacity = rate, max(1.0, rate)
        self.tokens, self.updated = self.capacity, time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            time.sleep(wait)


class JsonRpc:
    def __init__(self, url: str, *, max_rps: float = 10.0, timeout: float = 30.0) -> None:
        self.url, self.timeout = url, timeout
        self.limiter = RateLimiter(max_rps)
        self.ids = itertools.count(1)
        self.local = threading.local()
        self.requests = 0
        self.batches = True  # False once the node refused a batch request

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        return session

    def _post(self, payload: Any) -> Any:
        self.limiter.acquire()
        self.requests += 1
        try:
            response = self._session().post(self.url, json=payload, timeout=self.timeout)
        except requests.Timeout as error:
            raise RangeTooLarge(None, f"timed out after {self.timeout} s") from error
        except requests.RequestException as error:
            # requests' messages name the URL, and RPC URLs often carry an API key: never repeat them
            raise RpcUnavailable(f"{type(error).__name__}: cannot reach {redact_url(self.url)}") from error
        self.local.received = len(response.content)
        if response.status_code == 429 or response.status_code >= 500:
            raise RpcUnavailable(f"HTTP {response.status_code} from {redact_url(self.url)}")
        try:
            return orjson.loads(response.content)  # pages of logs are megabytes: twice as fast as json
        except ValueError as error:
            raise RpcUnavailable(f"not JSON (HTTP {response.status_code}) from {redact_url(self.url)}") from error

    @staticmethod
    def _result(reply: Any, method: str) -> Any:
        if not isinstance(reply, dict):
            raise RpcUnavailable(f"{method}: malformed reply")
        error = reply.get("error")
        if error:
            code, message = error.get("code"), str(error.get("message", "error"))
            if method == "eth_getLogs" and (code == -32005 or any(p in message.lower() for p in RANGE_TOO_LARGE)):
                raise RangeTooLarge(code, message)
            raise RpcError(code, f"{method}: {message}")
        return reply.get("result")

    @property
    def received(self) -> int:
        """Bytes of the last answer this thread received."""
        return int(getattr(self.local, "received", 0))

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": list(params)})
        return self._result(reply, method)

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], *, chunk: int = 100) -> list[Any]:
        """Several calls in one HTTP request each `chunk`; results in the order of `calls`. A node that does
        not take batch requests (it answers one with anything but a list) is asked one call at a time
        from then on."""
        results: list[Any] = []
        for offset in range(0, len(calls), chunk):
            part = calls[offset : offset + chunk]
            if not self.batches or len(part) == 1:
                results.extend(self.call(method, params) for method, params in part)
                continue
            first = next(self.ids)
            payload = [
                {"jsonrpc": "2.0", "id": first + i, "method": method, "params": list(params)}
                for i, (method, params) in enumerate(part)
            ]
            for _ in range(len(part) - 1):
                next(self.ids)
            replies = self._post(payload)
            if not isinstance(replies, list):
                log.warning("the node does not take batch requests: one call at a time", url=redact_url(self.url))
                self.batches = False
                results.extend(self.call(method, params) for method, params in part)
                continue
            by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
            for i, (method, _params) in enumerate(part):
                results.append(self._result(by_id.get(first + i), method))
        return results

    # -- the calls the indexer makes ---------------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def header(self, block: int | str) -> dict[str, Any] | None:
        tag = hex(block) if isinstance(block, int) else block
        return self.call("eth_getBlockByNumber", [tag, False])

    def headers(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        return self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])

    def logs(self, from_block: int, to_block: int, addresses: Sequence[str], topics: Sequence[str]) -> list[dict]:
        params = {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": list(addresses)}
        if topics:
            params["topics"] = [list(topics)]
        return list(self.call("eth_getLogs", [params]) or [])

    def transactions(self, hashes: Sequence[str]) -> list[dict[str, Any] | None]:
        return self.batch([("eth_getTransactionByHash", [h]) for h in hashes])

    def block_receipts(self, numbers: Sequence[int]) -> list[list[dict[str, Any]] | None]:
        """Every transaction receipt of each block (one call per block, batched)."""
        return self.batch([("eth_getBlockReceipts", [hex(n)]) for n in numbers], chunk=20)
