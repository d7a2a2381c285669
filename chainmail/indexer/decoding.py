"""Raw JSON-RPC logs into `LogRecord`s: the ABI entry by contract kind and topic0, the implied fields of
older ABIs, indexed strings recovered from transaction input, and the sender where meaning needs it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from chainmail.domain.chain.abi import RECOVERED_STRINGS, AbiBook, EventAbi, UndecodableLog, normalized_args
from chainmail.domain.chain.delegations import ZERO_ADDRESS
from chainmail.domain.chain.logs import LogRecord
from chainmail.domain.chain.recovery import recover_string

log = structlog.get_logger(__name__)


def needs_transaction(entry: EventAbi, args: Mapping[str, Any]) -> bool:
    """Whether the log's meaning depends on its transaction: a hashed string to recover, or a cleared
    delegation whose sender decides whether it counts."""
    if entry.recovers_strings:
        return True
    return entry.name == "DelegationSet" and args.get("delegate") == ZERO_ADDRESS


def decode_log(
    raw: Mapping[str, Any], chain_id: int, kinds: Mapping[str, str], book: AbiBook
) -> tuple[EventAbi, dict[str, Any]] | None:
    """The ABI entry and arguments of a raw log, or None for a log chainmail does not index."""
    address = str(raw["address"]).lower()
    kind = kinds.get(address)
    topics = raw.get("topics") or []
    if kind is None or not topics:
        return None
    entry = book.entry(kind, topics[0])
    if entry is None:
        return None
    try:
        return entry, entry.decode(topics, raw.get("data") or "0x")
    except UndecodableLog as error:
        log.warning("undecodable log", chain=chain_id, tx=raw.get("transactionHash"), error=str(error))
        return None


def to_record(
    raw: Mapping[str, Any],
    chain_id: int,
    kind: str,
    entry: EventAbi,
    args: dict[str, Any],
    block_time: int,
    tx: Mapping[str, Any] | None,
    receipt: Mapping[str, Any] | None = None,
) -> LogRecord:
    recovered: dict[str, str | None] = {}
    if tx is not None:
        calldata = bytes.fromhex(str(tx.get("input") or "0x").removeprefix("0x"))
        for param in entry.params:
            if param.hashed and param.name in RECOVERED_STRINGS:
                recovered[param.name] = recover_string(calldata, args[param.name])
    return LogRecord(
        chain_id=chain_id,
        contract=kind,
        address=str(raw["address"]).lower(),
        event=entry.name,
        abi_version=entry.version,
        block_number=int(raw["blockNumber"], 16),
        block_hash=str(raw["blockHash"]).lower(),
        block_time=block_time,
        tx_hash=str(raw["transactionHash"]).lower(),
        tx_index=int(raw["transactionIndex"], 16),
        log_index=int(raw["logIndex"], 16),
        args=normalized_args(entry, args),
        tx_from=str(tx["from"]).lower() if tx is not None and tx.get("from") else None,
        recovered=recovered,
        gas_used=_quantity(receipt, "gasUsed"),
        gas_price=_quantity(receipt, "effectiveGasPrice"),
    )


def _quantity(receipt: Mapping[str, Any] | None, name: str) -> int | None:
    value = receipt.get(name) if receipt is not None else None
    return int(value, 16) if isinstance(value, str) else None
