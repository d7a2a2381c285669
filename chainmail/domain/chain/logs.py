"""Observed contract logs: a log's place on the chain and its decoded arguments, recorded a page at a time."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import natural_id


@dataclass(frozen=True)
class LogRecord:
    """What projections need to know about a log; plain JSON values only."""

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
    recovered: dict[str, str | None] = field(default_factory=dict)  # indexed-string argument -> its text

    @property
    def key(self) -> str:
        """Idempotency key: a log is the same log exactly when chain, block hash and log index are."""
        return f"{self.chain_id}:{self.block_hash}:{self.log_index}"

    def to_json(self) -> dict[str, Any]:
        # not dataclasses.asdict: its recursive deep copy was a fifth of the backfill's time
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogRecord:
        return cls(**data)


_FIELDS = tuple(f.name for f in fields(LogRecord))


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
