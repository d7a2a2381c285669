"""Audits as of a block or a time: the notification bound of a context, and a wallet's points, mails and
delegations at that point, each traced to the event behind it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import MetaData, Table, func, or_, select

from chainmail.store.events import select_notifications
from chainmail.system import System

PAGE = 500


@dataclass(frozen=True)
class AsOf:
    """A point in history: a time, or a block of one chain (then also the time of that block)."""

    at: datetime | None = None
    chain_id: int | None = None
    block: int | None = None

    def describe(self) -> str:
        if self.block is not None:
            return f"block {self.chain_id}:{self.block}"
        return f"{self.at.isoformat()}" if self.at else "now"


def parse_time(text: str) -> datetime:
    """ISO 8601 (a naive time is UTC) or Unix seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"--at {text!r}: not an ISO 8601 time or Unix seconds") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_block(text: str) -> tuple[int, int]:
    """`CHAIN:N`, e.g. `8453:38900000`."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if not match:
        raise SystemExit(f"--block {text!r}: expected CHAIN:N, e.g. 8453:38900000")
    return int(match.group(1)), int(match.group(2))


def block_time(system: System, chain_id: int, block: int) -> datetime:
    """When a block was made, from the headers or the logs the indexer kept."""
    from chainmail.projections.blocks import evm_blocks
    from chainmail.projections.chain_logs import evm_event_log

    with system.engine.connect() as conn:
        seconds = conn.execute(
            select(evm_blocks.c.block_time).where(evm_blocks.c.chain_id == chain_id, evm_blocks.c.block_number == block)
        ).scalar()
        if seconds is None:  # not kept: the last indexed log at or below it
            seconds = conn.execute(
                select(func.max(evm_event_log.c.block_time)).where(
                    evm_event_log.c.chain_id == chain_id, evm_event_log.c.block_number <= block
                )
            ).scalar()
    if seconds is None:
        raise SystemExit(f"block {chain_id}:{block} is not indexed: no time is known for it")
    return datetime.fromtimestamp(int(seconds), UTC)


def _at_or_before(event: Any, point: AsOf, at: datetime) -> bool:
    to_block = getattr(event, "to_block", None)
    if point.block is not None and to_block is not None and getattr(event, "chain_id", None) == point.chain_id:
        return int(to_block) <= point.block  # a page of this chain: by its blocks
    return event.timestamp <= at


def notification_bound(system: System, context: str, point: AsOf) -> int:
    """The last notification of `context` whose event is at or before `point` (0: none is)."""
    at = point.at if point.block is None else block_time(system, point.chain_id or 0, point.block)
    assert at is not None
    app = system.apps[context]
    last = after = 0
    with system.engine.connect() as conn:
        while notes := select_notifications(conn, context, after=after, limit=PAGE):
            for note in notes:
                if _at_or_before(app.mapper.to_domain_event(note), point, at):
                    last = note.id
            after = notes[-1].id
    return last


def replay_bound(system: System, name: str, point: AsOf) -> int:
    """`chainmail replay NAME --at/--block`: the bound in the (first) context the read model follows."""
    projection = system.projections.projections[name]
    return notification_bound(system, type(projection).follows[0].name, point)


# -- a wallet's audit ----------------------------------------------------------------------------


def _trace(row: Any) -> str:
    return f"chain {row.chain_id} block {row.block_number} tx {row.tx_hash} log {row.log_index}"


def _chain_rows(system: System, table: Table, wallet: str, columns: tuple[str, ...], point: AsOf) -> list[Any]:
    clauses = [or_(*(func.lower(table.c[c]) == wallet for c in columns))]
    if point.block is not None:
        clauses.append(or_(table.c.chain_id != point.chain_id, table.c.block_number <= point.block))
        at = block_time(system, point.chain_id or 0, point.block)
        clauses.append(or_(table.c.chain_id == point.chain_id, table.c.block_time <= int(at.timestamp())))
    elif point.at is not None:
        clauses.append(table.c.block_time <= int(point.at.timestamp()))
    query = select(table).where(*clauses).order_by(table.c.chain_id, table.c.block_number, table.c.log_index)
    with system.engine.connect() as conn:
        return list(conn.execute(query).all())


def audit_wallet(system: System, wallet: str, point: AsOf) -> list[str]:
    """The report's lines: points with the ledger entries behind the balance, mails, delegations."""
    from chainmail.projections.chain_mails import evm_mails
    from chainmail.projections.delegations import evm_delegation_history
    from chainmail.projections.points import points_ledger

    wallet = wallet.strip().lower()
    lines = [f"wallet {wallet} as of {point.describe()}"]
    ledger = points_ledger
    if point.at is not None or point.block is not None:
        bound = replay_bound(system, "points", point)
        result = system.projections.replay("points", until=bound)
        ledger = Table(result.tables[points_ledger.name], MetaData(), autoload_with=system.engine)
        lines.append(f"points replayed to Rewards notification {bound} ({result.tables[points_ledger.name]})")
    with system.engine.connect() as conn:
        entries = conn.execute(
            select(ledger).where(func.lower(ledger.c.wallet) == wallet).order_by(ledger.c.created_at, ledger.c.version)
        ).all()
        rewards = system.apps["Rewards"]
        versions = _notification_ids(conn, rewards.name, {(row.day_id, row.version) for row in entries})
    balance = sum(row.amount for row in entries)
    lines.append(f"points: {balance}")
    for row in entries:
        where = versions.get((str(row.day_id), int(row.version)))
        lines.append(
            f"  {row.created_at.isoformat()} {row.activity} {row.amount:+d} -> {row.balance_after}"
            f"{f' ({row.reason})' if row.reason else ''}: Rewards notification {where}, "
            f"aggregate {row.day_id} v{row.version}"
        )
    sent = _chain_rows(system, evm_mails, wallet, ("sender",), point)
    received = _chain_rows(system, evm_mails, wallet, ("recipient",), point)
    lines.append(f"mails sent: {len(sent)}")
    lines += [f"  to {r.recipient or r.to_email} ({r.kind}): {_trace(r)}" for r in sent]
    lines.append(f"mails received: {len(received)}")
    lines += [f"  from {r.sender} ({r.kind}): {_trace(r)}" for r in received]
    history = _chain_rows(system, evm_delegation_history, wallet, ("delegator", "delegate"), point)
    current: dict[tuple[int, str], Any] = {}
    for row in history:
        if row.effect != "ignored":
            current[(row.chain_id, row.delegator.lower())] = row
    active = [r for r in current.values() if r.effect == "set"]
    lines.append(f"delegations: {len(active)} active")
    lines += [f"  {r.delegator} -> {r.delegate}: {_trace(r)}" for r in active]
    lines.append(f"delegation history: {len(history)} entries")
    lines += [f"  {r.effect} {r.delegator} -> {r.delegate}: {_trace(r)}" for r in history]
    return lines


def _notification_ids(conn: Any, context: str, keys: set[tuple[Any, int]]) -> dict[tuple[str, int], int]:
    """The notification id of each (aggregate id, version) event."""
    wanted = {(str(k), int(v)) for k, v in keys}
    found: dict[tuple[str, int], int] = {}
    after = 0
    while wanted and (notes := select_notifications(conn, context, after=after, limit=PAGE)):
        for note in notes:
            key = (str(note.originator_id), note.originator_version)
            if key in wanted:
                found[key] = note.id
        after = notes[-1].id
    return found
