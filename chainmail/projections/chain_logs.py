"""The base of every chain read model, and the event log read model (one row per canonical log).

A chain projection names its handlers by contract kind and event name (`@on_log(MAILER, "MailSent")`);
each log of a recorded page goes to its handler, whose rows are inserted many at a time. When blocks are
reverted, rows of those blocks are deleted, and projections that keep a current state derived from several
logs rebuild that state for the keys the reverted rows touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from sqlalchemy import JSON, BigInteger, Column, Connection, Index, Integer, String, Table, delete, insert

from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.cursor import ChainCursor
from chainmail.domain.chain.logs import ChainLog, LogPage, LogRecord
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

LogHandler = Callable[[Any, Connection, LogRecord], None]
H = TypeVar("H", bound=LogHandler)


def on_log(contract: str, *events: str) -> Callable[[H], H]:
    """Mark a chain projection method as the handler of these events of one contract kind."""

    def mark(method: H) -> H:
        method.__on_log__ = [(contract, name) for name in events]  # type: ignore[attr-defined]
        return method

    return mark


def log_columns() -> list[Column[Any]]:
    """Where a row came from: every chain read-model row carries these, keyed by the log."""
    return [
        Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
        Column("block_number", BigInteger, primary_key=True, autoincrement=False),
        Column("log_index", Integer, primary_key=True, autoincrement=False),
        Column("block_hash", String(66), nullable=False),
        Column("block_time", BigInteger, nullable=False),
        Column("tx_hash", String(88), nullable=False),  # 88: a Solana signature (base58)
    ]


def add_row(tx: Any, table: Table, row: dict[str, Any]) -> None:
    """Insert a row, many at a time where the runner batches writes."""
    if hasattr(tx, "insert"):
        tx.insert(table, row)
    else:
        tx.execute(insert(table), row)


def log_values(r: LogRecord) -> dict[str, Any]:
    return {
        "chain_id": r.chain_id,
        "block_number": r.block_number,
        "log_index": r.log_index,
        "block_hash": r.block_hash,
        "block_time": r.block_time,
        "tx_hash": r.tx_hash,
    }


def event_data(args: dict[str, Any], recovered: dict[str, str | None] | None) -> dict[str, Any]:
    """A log's arguments, with each recovered indexed string in place of its hash (kept as `<name>Hash`)."""
    if not recovered:
        return args
    data = dict(args)
    for name, text in recovered.items():
        data[name + "Hash"] = args[name]
        data[name] = text
    return data


class RevertibleProjection(Projection):
    """A read model of the chain context that undoes reverted blocks."""

    follows = (Chain,)

    @handles(ChainCursor.BlocksReverted)
    def _reverted(self, tx: Connection, e: ChainCursor.BlocksReverted) -> None:
        self.revert(tx, e.chain_id, e.from_block)

    def revert(self, tx: Connection, chain_id: int, from_block: int) -> None:
        """Undo the blocks from `from_block` on: by default, delete the rows they produced."""
        for table in vars(self.t).values():
            if "block_number" in table.c and "chain_id" in table.c:
                tx.execute(delete(table).where(table.c.chain_id == chain_id, table.c.block_number >= from_block))


class ChainProjection(RevertibleProjection):
    """A read model of contract logs: `@on_log` handlers by contract kind and event name."""

    _log_handlers: ClassVar[dict[tuple[str, str], LogHandler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._log_handlers = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                for key in getattr(attr, "__on_log__", ()):
                    cls._log_handlers[key] = attr

    @handles(LogPage.Observed)
    def _page(self, tx: Connection, e: LogPage.Observed) -> None:
        self.fold(tx, e.logs)

    @handles(ChainLog.Observed, ChainLog.Reinstated)
    def _observed(self, tx: Connection, e: Any) -> None:
        self.fold(tx, [e.record])

    def fold(self, tx: Connection, logs: list[dict[str, Any]]) -> None:
        """Each log (`LogRecord.to_json()`) to the handler of its contract kind and event, in chain order."""
        handlers = self._log_handlers
        for data in logs:
            handler = handlers.get((data["contract"], data["event"]))
            if handler is not None:
                handler(self, tx, LogRecord(**data))


evm_event_log = Table(
    "evm_event_log",
    metadata,
    *log_columns(),
    Column("address", String(44), nullable=False),
    Column("contract", String(32), nullable=False),
    Column("event_name", String(64), nullable=False),
    Column("abi_version", String(16), nullable=False),
    Column("tx_from", String(44), nullable=True),
    Column("event_data", JSON, nullable=False),
    Index(None, "event_name"),
    Index(None, "tx_hash"),
)


class EventLogProjection(ChainProjection):
    """Every decoded log of the canonical chains, as indexed (Ponder's `eventLogs`)."""

    name = "evm_event_log"
    tables = (evm_event_log,)

    def fold(self, tx: Connection, logs: list[dict[str, Any]]) -> None:
        # straight from the page's dicts: this read model takes every log, so no record is made for each
        table = self.t.evm_event_log
        for d in logs:
            add_row(
                tx,
                table,
                {
                    "chain_id": d["chain_id"],
                    "block_number": d["block_number"],
                    "log_index": d["log_index"],
                    "block_hash": d["block_hash"],
                    "block_time": d["block_time"],
                    "tx_hash": d["tx_hash"],
                    "address": d["address"],
                    "contract": d["contract"],
                    "event_name": d["event"],
                    "abi_version": d["abi_version"],
                    "tx_from": d.get("tx_from"),
                    "event_data": event_data(d["args"], d.get("recovered")),
                },
            )
