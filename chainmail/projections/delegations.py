"""Mailer delegations: every DelegationSet with what it did, and each delegator's current delegate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    delete,
    insert,
    select,
)

from chainmail.domain.chain.abi import MAILER
from chainmail.domain.chain.delegations import ZERO_ADDRESS, delegation_effect
from chainmail.domain.chain.logs import LogRecord
from chainmail.projections.bulk import Upsert, insert_rows, rows_with_keys
from chainmail.projections.chain_logs import ChainProjection, log_columns, log_values, on_log
from chainmail.store.schema import metadata

evm_delegation_history = Table(
    "evm_delegation_history",
    metadata,
    *log_columns(),
    Column("address", String(44), nullable=False),
    Column("delegator", String(44), nullable=False),  # 44: Solana keys (base58) as well as EVM addresses
    Column("delegate", String(44), nullable=False),
    Column("tx_from", String(44), nullable=True),
    Column("effect", String(8), nullable=False),  # set | cleared | ignored (a stranger's rejectDelegation)
    Index(None, "chain_id", "delegator", "block_number", "log_index"),
)

# One row per delegator and chain once it has ever delegated; `is_active` false after a clear.
evm_delegations = Table(
    "evm_delegations",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("delegator", String(44), primary_key=True),
    Column("delegate", String(44), nullable=True),
    Column("is_active", Boolean, nullable=False),
    Column("address", String(44), nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("block_time", BigInteger, nullable=False),
    Column("tx_hash", String(88), nullable=False),
    Index(None, "delegate", "is_active"),
)


class DelegationsProjection(ChainProjection):
    """Folds a page of DelegationSet logs at once: one read of the current delegates the page's clears
    depend on, the history rows in one go, and one upsert of each touched delegator's last state."""

    name = "evm_delegations"
    tables = (evm_delegation_history, evm_delegations)

    def __init__(self, bound: Mapping[str, Table] | None = None) -> None:
        super().__init__(bound)
        self._upsert = Upsert(self.t.evm_delegations, ["chain_id", "delegator"])

    @on_log(MAILER, "DelegationSet")
    def delegation_set(self, tx: Connection, r: LogRecord) -> None:
        self._fold(tx, [r])

    def fold(self, tx: Connection, logs: list[dict[str, Any]]) -> None:
        self._fold(tx, [LogRecord(**d) for d in logs if d["event"] == "DelegationSet" and d["contract"] == MAILER])

    def _fold(self, tx: Connection, records: list[LogRecord]) -> None:
        if not records:
            return
        # Only a clear's effect depends on the delegator's current delegate: read those delegates, once.
        clearing = {(r.chain_id, r.args["delegator"]) for r in records if r.args["delegate"] == ZERO_ADDRESS}
        current = self._current_delegates(tx, clearing)
        history: list[dict[str, Any]] = []
        latest: dict[tuple[int, str], dict[str, Any]] = {}
        for r in records:
            delegator, delegate = r.args["delegator"], r.args["delegate"]
            key = (r.chain_id, delegator)
            effect = delegation_effect(current.get(key), delegator, delegate, r.tx_from)
            history.append(
                dict(
                    **log_values(r),
                    address=r.address,
                    delegator=delegator,
                    delegate=delegate,
                    tx_from=r.tx_from,
                    effect=effect,
                )
            )
            if effect == "ignored":
                continue
            current[key] = delegate if effect == "set" else None
            latest[key] = self._current_row(r.chain_id, delegator, self._history_row(r, delegate, effect))
        insert_rows(tx, self.t.evm_delegation_history, history)
        self._upsert(tx, list(latest.values()))

    def _current_delegates(self, tx: Connection, keys: set[tuple[int, str]]) -> dict[tuple[int, str], str | None]:
        """The active delegate of each (chain, delegator) that has one."""
        d = self.t.evm_delegations
        found: dict[tuple[int, str], str | None] = {}
        by_chain: dict[int, list[str]] = {}
        for chain_id, delegator in keys:
            by_chain.setdefault(chain_id, []).append(delegator)
        for chain_id, delegators in by_chain.items():
            query = select(d.c.delegator, d.c.delegate).where(d.c.chain_id == chain_id, d.c.is_active)
            rows = rows_with_keys(tx, query, d.c.delegator, delegators)
            found.update(((chain_id, row.delegator), row.delegate) for row in rows)
        return found

    def revert(self, tx: Connection, chain_id: int, from_block: int) -> None:
        d, h = self.t.evm_delegations, self.t.evm_delegation_history
        touched = tx.execute(
            select(d.c.delegator).where(d.c.chain_id == chain_id, d.c.block_number >= from_block)
        ).scalars()
        touched = list(touched)
        tx.execute(delete(h).where(h.c.chain_id == chain_id, h.c.block_number >= from_block))
        for delegator in touched:
            tx.execute(delete(d).where(d.c.chain_id == chain_id, d.c.delegator == delegator))
            last = tx.execute(
                select(h)
                .where(h.c.chain_id == chain_id, h.c.delegator == delegator, h.c.effect != "ignored")
                .order_by(h.c.block_number.desc(), h.c.log_index.desc())
                .limit(1)
            ).first()
            if last is not None:
                tx.execute(insert(d), self._current_row(chain_id, delegator, self._row_values(last._mapping)))

    @staticmethod
    def _history_row(r: LogRecord, delegate: str, effect: str) -> dict[str, Any]:
        return {
            "delegate": delegate,
            "effect": effect,
            "address": r.address,
            "block_number": r.block_number,
            "log_index": r.log_index,
            "block_time": r.block_time,
            "tx_hash": r.tx_hash,
        }

    @staticmethod
    def _row_values(row: Any) -> dict[str, Any]:
        return {
            k: row[k] for k in ("delegate", "effect", "address", "block_number", "log_index", "block_time", "tx_hash")
        }

    @staticmethod
    def _current_row(chain_id: int, delegator: str, row: dict[str, Any]) -> dict[str, Any]:
        """The evm_delegations row of a delegator whose last effective log is `row`."""
        active = row["effect"] == "set"
        return {
            "chain_id": chain_id,
            "delegator": delegator,
            "delegate": row["delegate"] if active else None,
            "is_active": active,
            "address": row["address"],
            "block_number": row["block_number"],
            "log_index": row["log_index"],
            "block_time": row["block_time"],
            "tx_hash": row["tx_hash"],
        }


# -- queries ----------------------------------------------------------------------------------


def _wallet(address: str) -> str:
    """EVM addresses are kept lower-case; Solana keys are base58, whose case matters."""
    return address.lower() if address.startswith("0x") else address


def delegated_to(conn: Connection, delegator: str) -> list[dict[str, Any]]:
    """The active delegations a wallet gave, one per chain where it has one (newest first)."""
    query = (
        select(evm_delegations)
        .where(evm_delegations.c.delegator == _wallet(delegator), evm_delegations.c.is_active)
        .order_by(evm_delegations.c.block_time.desc(), evm_delegations.c.chain_id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def delegators_of(conn: Connection, delegate: str) -> list[dict[str, Any]]:
    """The wallets whose active delegate is `delegate`, on any chain."""
    query = (
        select(evm_delegations)
        .where(evm_delegations.c.delegate == _wallet(delegate), evm_delegations.c.is_active)
        .order_by(evm_delegations.c.chain_id, evm_delegations.c.delegator)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def delegation_history(conn: Connection, delegator: str, chain_id: int | None = None) -> list[dict[str, Any]]:
    h = evm_delegation_history
    query = select(h).where(h.c.delegator == _wallet(delegator)).order_by(h.c.chain_id, h.c.block_number, h.c.log_index)
    if chain_id is not None:
        query = query.where(h.c.chain_id == chain_id)
    return [dict(row._mapping) for row in conn.execute(query)]
