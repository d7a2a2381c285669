"""Per wallet and chain: mails and prepared mails sent and received, delegations given and received
(Ponder's `userStatistics`), kept as counters beside a ledger of what each log counted, so reverted blocks
are subtracted exactly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
)

from chainmail.domain.chain.abi import MAILER
from chainmail.domain.chain.delegations import ZERO_ADDRESS
from chainmail.domain.chain.logs import LogRecord
from chainmail.projections.bulk import Upsert, insert_rows
from chainmail.projections.chain_logs import ChainProjection, on_log
from chainmail.projections.chain_mails import MAIL_KINDS
from chainmail.store.schema import metadata

COUNTERS = (
    "mails_sent",
    "mails_received",
    "prepared_mails_sent",
    "prepared_mails_received",
    "delegations_given",
    "delegations_received",
)
PREPARED_KINDS = ("prepared", "prepared_email")
SENT = ("mails_sent", "prepared_mails_sent")  # the counters whose times are the wallet's first and last mail

user_statistics = Table(
    "user_statistics",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("address", String(44), primary_key=True),
    *[Column(counter, BigInteger, nullable=False) for counter in COUNTERS],
    Column("first_mail_time", BigInteger, nullable=True),  # the wallet's first and last mail sent
    Column("last_mail_time", BigInteger, nullable=True),
    Index(None, "address"),
)

# What each log counted, one row per counter it moved (a log moves each counter for one wallet at most).
user_statistics_entries = Table(
    "user_statistics_entries",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, primary_key=True, autoincrement=False),
    Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("counter", String(32), primary_key=True),
    Column("address", String(44), nullable=False),
    Column("block_time", BigInteger, nullable=False),
    Index(None, "chain_id", "address"),
)


class UserStatisticsProjection(ChainProjection):
    name = "user_statistics"
    tables = (user_statistics, user_statistics_entries)
    # A statistics view for the GraphQL API: folded by `chainmail project`, not on the indexer's save path.
    inline = False

    def __init__(self, bound: Mapping[str, Table] | None = None) -> None:
        super().__init__(bound)
        self._upsert = Upsert(self.t.user_statistics, ["chain_id", "address"], _add_deltas)

    @on_log(MAILER, *MAIL_KINDS)
    def mail_sent(self, tx: Connection, r: LogRecord) -> None:
        self._count(tx, [r.to_json()])

    @on_log(MAILER, "DelegationSet")
    def delegation_set(self, tx: Connection, r: LogRecord) -> None:
        self._count(tx, [r.to_json()])

    def fold(self, tx: Connection, logs: list[dict[str, Any]]) -> None:
        """A page of logs at once, where the chain context records them a page per event: two statements
        for the whole page instead of two per log."""
        handled = self._log_handlers
        self._count(tx, [data for data in logs if (data["contract"], data["event"]) in handled])

    @staticmethod
    def _counted(event: str, args: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(counter, wallet) pairs one log moves."""
        if event == "DelegationSet":
            if args["delegate"] == ZERO_ADDRESS:
                return []  # a clear or a rejection gives nothing
            return [("delegations_given", args["delegator"]), ("delegations_received", args["delegate"])]
        prefix = "prepared_mails" if MAIL_KINDS[event] in PREPARED_KINDS else "mails"
        counted = [(f"{prefix}_sent", args["from"])]
        if args.get("to"):
            counted.append((f"{prefix}_received", args["to"]))
        return counted

    def _count(self, tx: Connection, logs: list[dict[str, Any]]) -> None:
        entries: list[dict[str, Any]] = []
        deltas: dict[tuple[int, str], dict[str, Any]] = {}
        for d in logs:
            chain_id, block_time = d["chain_id"], d["block_time"]
            for counter, address in self._counted(d["event"], d["args"]):
                entries.append(
                    {
                        "chain_id": chain_id,
                        "block_number": d["block_number"],
                        "log_index": d["log_index"],
                        "counter": counter,
                        "address": address,
                        "block_time": block_time,
                    }
                )
                delta = deltas.get((chain_id, address))
                if delta is None:
                    delta = deltas[(chain_id, address)] = dict(
                        chain_id=chain_id,
                        address=address,
                        first_mail_time=None,
                        last_mail_time=None,
                        **dict.fromkeys(COUNTERS, 0),
                    )
                delta[counter] += 1
                if counter in SENT:
                    first, last = delta["first_mail_time"], delta["last_mail_time"]
                    delta["first_mail_time"] = block_time if first is None else min(first, block_time)
                    delta["last_mail_time"] = block_time if last is None else max(last, block_time)
        if entries:
            insert_rows(tx, self.t.user_statistics_entries, entries)
            self._upsert(tx, list(deltas.values()))

    def revert(self, tx: Connection, chain_id: int, from_block: int) -> None:
        e, s = self.t.user_statistics_entries, self.t.user_statistics
        reverted = (e.c.chain_id == chain_id, e.c.block_number >= from_block)
        touched = list(tx.execute(select(e.c.address).distinct().where(*reverted)).scalars())
        tx.execute(delete(e).where(*reverted))
        for address in touched:
            tx.execute(delete(s).where(s.c.chain_id == chain_id, s.c.address == address))
            self._refold(tx, chain_id, address)

    def _refold(self, tx: Connection, chain_id: int, address: str) -> None:
        """The wallet's counters summed again from the entries that remain."""
        e = self.t.user_statistics_entries
        rows = tx.execute(
            select(e.c.counter, func.count(), func.min(e.c.block_time), func.max(e.c.block_time))
            .where(e.c.chain_id == chain_id, e.c.address == address)
            .group_by(e.c.counter)
        ).all()
        if not rows:
            return
        row = {c: 0 for c in COUNTERS}
        first = last = None
        for counter, count, earliest, latest in rows:
            row[counter] = count
            if counter in SENT:
                first = earliest if first is None else min(first, earliest)
                last = latest if last is None else max(last, latest)
        tx.execute(
            insert(self.t.user_statistics),
            dict(chain_id=chain_id, address=address, **row, first_mail_time=first, last_mail_time=last),
        )


def _add_deltas(s: Table, new: Any) -> dict[str, Any]:
    """A wallet's counters plus the incoming deltas; its first and last mail times widened to theirs."""
    change: dict[str, Any] = {c: s.c[c] + new[c] for c in COUNTERS}
    first, last = s.c.first_mail_time, s.c.last_mail_time
    change["first_mail_time"] = case(
        (
            and_(new.first_mail_time.is_not(None), or_(first.is_(None), first > new.first_mail_time)),
            new.first_mail_time,
        ),
        else_=first,
    )
    change["last_mail_time"] = case(
        (and_(new.last_mail_time.is_not(None), or_(last.is_(None), last < new.last_mail_time)), new.last_mail_time),
        else_=last,
    )
    return change
