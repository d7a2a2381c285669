"""Mailer delegations: every DelegationSet with what it did, and each delegator's current delegate."""

from __future__ import annotations

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
    update,
)

from chainmail.domain.chain.abi import MAILER
from chainmail.domain.chain.delegations import delegation_effect
from chainmail.domain.chain.logs import LogRecord
from chainmail.projections.chain_logs import ChainProjection, add_row, log_columns, log_values, on_log
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
    name = "evm_delegations"
    tables = (evm_delegation_history, evm_delegations)

    @on_log(MAILER, "DelegationSet")
    def delegation_set(self, tx: Connection, r: LogRecord) -> None:
        delegator, delegate = r.args["delegator"], r.args["delegate"]
        d = self.t.evm_delegations
        current = tx.execute(
            select(d.c.delegate).where(d.c.chain_id == r.chain_id, d.c.delegator == delegator, d.c.is_active)
        ).scalar_one_or_none()
        effect = delegation_effect(current, delegator, delegate, r.tx_from)
        add_row(
            tx,
            self.t.evm_delegation_history,
            dict(
                **log_values(r),
                address=r.address,
                delegator=delegator,
                delegate=delegate,
                tx_from=r.tx_from,
                effect=effect,
            ),
        )
        if effect != "ignored":
            self._set_current(tx, r.chain_id, delegator, self._history_row(r, delegate, effect))

    def revert(self, tx: Connection, chain_id: int, from_block: int) -> None:
        d, h = self.t.evm_delegations, self.t.evm_delegation_history
        touched = tx.execute(
            select(d.c.delegator).where(d.c.chain_id == chain_id, d.c.block_number >= from_block)
        ).scalars()
        touched = list(touched)
        tx.execute(delete(h).where(h.c.chain_id == chain_id, h.c.block_number >= from_block))
        for delegator in touched:
            last = tx.execute(
                select(h)
                .where(h.c.chain_id == chain_id, h.c.delegator == delegator, h.c.effect != "ignored")
                .order_by(h.c.block_number.desc(), h.c.log_index.desc())
                .limit(1)
            ).first()
            if last is None:
                tx.execute(delete(d).where(d.c.chain_id == chain_id, d.c.delegator == delegator))
            else:
                self._set_current(tx, chain_id, delegator, self._row_values(last._mapping))

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

    def _set_current(self, tx: Connection, chain_id: int, delegator: str, row: dict[str, Any]) -> None:
        d = self.t.evm_delegations
        active = row.pop("effect") == "set"
        values = {**row, "delegate": row["delegate"] if active else None, "is_active": active}
        where = (d.c.chain_id == chain_id, d.c.delegator == delegator)
        if tx.execute(update(d).where(*where).values(**values)).rowcount == 0:
            tx.execute(insert(d), dict(chain_id=chain_id, delegator=delegator, **values))


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
