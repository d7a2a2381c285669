"""Observed contract logs: a log's place on the chain and its decoded arguments, recorded a page at a time."""

from __future__ import annotations

from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import natural_id

_NOTHING_RECOVERED: dict[str, str | None] = {}  # the shared default; records are never changed


class LogRecord(NamedTuple):
    """What projections need to know about a log; plain JSON values only. A named tuple: made for every log
    several times over (decoding, each read model), where a frozen dataclass cost five times as much."""

    chain_id: int
    contract: str  # the contract's kind: "mailer", "threedns"
    address: str  # lower-case contract address
    event: str  # event name, e.g. "MailSent"
    abi_version: str
    block_number: int
    block_hash: str
    block_time: int  # seconds since the epoch
    tx_hash: str
    tx_index: int
    log_index: int
    args: dict[str, Any]
    tx_from: str | None = None  # known for the logs whose meaning depends on it
    recovered: dict[str, str | None] = _NOTHING_RECOVERED  # indexed-string argument -> its text
    gas_used: int | None = None  # the transaction's, when the chain's receipts are fetched
    gas_price: int | None = None  # its effective gas price in wei, idem

    @property
    def key(self) -> str:
        """Idempotency key: a log is the same log exactly when chain, block hash and log index are."""
        return f"{self.chain_id}:{self.block_hash}:{self.log_index}"

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


def log_id(chain_id: int, block_hash: str, log_index: int) -> UUID:
    return natural_id("evm-log", f"{chain_id}:{block_hash.lower()}:{log_index}")


class LogPage(Aggregate):
    """The logs of a run of blocks, recorded in the save that moves the chain's checkpoint over them.

    One event per page, not one per log: thousands of logs are one row in the event store and one decode
    per read model. Each log is recorded once per canonical appearance: the checkpoint's version guards the
    save, and a log comes again only after a `BlocksReverted` undid it (its block hash is then `returned`).
    """

    @staticmethod
    def create_id(chain_id: int, step: int) -> UUID:
        return natural_id("evm-log-page", f"{chain_id}:{step}")

    @event("Observed")
    def __init__(
        self, chain_id: int, step: int, from_block: int, to_block: int, logs: list[dict[str, Any]], returned: list[str]
    ) -> None:
        # `step`: the checkpoint's version after this page; `logs`: `LogRecord.to_json()` in chain order;
        # `returned`: hashes of blocks reverted earlier that are canonical again.
        self.chain_id, self.from_block, self.to_block, self.count = chain_id, from_block, to_block, len(logs)


# A page's state is JSON values only (its logs are `LogRecord.to_json()`): the store may encode it as such.
LogPage.Observed.json_values_only = True  # type: ignore[attr-defined]


class ChainLog(Aggregate):
    """One log per aggregate: the grain of earlier versions, kept so that event stores holding it still fold.
    A reorg may drop its block; if the block comes back, so does the log."""

    @staticmethod
    def create_id(record: dict[str, Any]) -> UUID:
        return log_id(record["chain_id"], record["block_hash"], record["log_index"])

    @event("Observed")
    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record

    @event("Reinstated")
    def reinstate(self, record: dict[str, Any]) -> None:
        """The log's block was reverted and is canonical again (a reorg back to it)."""
        self.record = record
