"""3DNS names on Optimism: each registration's name, owner and expiry, from the ThreeDNSToken's events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, String, Table, Text, delete, insert, select

from chainmail.domain.chain.abi import THREEDNS
from chainmail.domain.chain.delegations import ZERO_ADDRESS
from chainmail.domain.chain.logs import LogRecord
from chainmail.domain.chain.recovery import dns_wire_name
from chainmail.projections.bulk import Upsert, insert_rows, rows_with_keys
from chainmail.projections.chain_logs import ChainProjection, log_columns, log_values, on_log
from chainmail.store.schema import metadata

threedns_name_events = Table(
    "threedns_name_events",
    metadata,
    *log_columns(),
    Column("node", String(66), nullable=False),
    Column("event_name", String(64), nullable=False),
    Column("name", Text, nullable=True),
    Column("owner", String(42), nullable=True),
    Column("expiry", BigInteger, nullable=True),
    Index(None, "chain_id", "node"),
)

threedns_names = Table(
    "threedns_names",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("node", String(66), primary_key=True),
    Column("name", Text, nullable=True),
    Column("owner", String(42), nullable=True),
    Column("expiry", BigInteger, nullable=True),
    Column("block_number", BigInteger, nullable=False),
    Column("log_index", Integer, nullable=False),
    Index(None, "owner"),
)


class ThreeDnsNamesProjection(ChainProjection):
    """Folds a page of 3DNS events at once: the events in one go, then each touched name's current row
    read once, moved through its events of the page in chain order, and written back in one upsert."""

    name = "threedns_names"
    tables = (threedns_name_events, threedns_names)

    def __init__(self, bound: Mapping[str, Table] | None = None) -> None:
        super().__init__(bound)
        self._upsert = Upsert(self.t.threedns_names, ["chain_id", "node"])

    @on_log(THREEDNS, "RegistrationCreated")
    def created(self, tx: Connection, r: LogRecord) -> None:
        self._fold(tx, [r])

    @on_log(THREEDNS, "RegistrationExtended")
    def extended(self, tx: Connection, r: LogRecord) -> None:
        self._fold(tx, [r])

    @on_log(THREEDNS, "RegistrationTransferred")
    def transferred(self, tx: Connection, r: LogRecord) -> None:
        self._fold(tx, [r])

    @on_log(THREEDNS, "TransferSingle")
    def token_transferred(self, tx: Connection, r: LogRecord) -> None:
        self._fold(tx, [r])

    def fold(self, tx: Connection, logs: list[dict[str, Any]]) -> None:
        handled = self._log_handlers
        self._fold(tx, [LogRecord(**d) for d in logs if (d["contract"], d["event"]) in handled])

    @staticmethod
    def _change(r: LogRecord) -> tuple[str, dict[str, Any]]:
        """The name's node and what the event says of its name, owner and expiry (None: nothing)."""
        a = r.args
        if r.event == "RegistrationCreated":
            change = {"name": dns_wire_name(a["fqdn"]), "owner": a["registrant"], "expiry": int(a["expiry"])}
            return a["node"], change
        if r.event == "RegistrationExtended":
            return a["node"], {"name": None, "owner": None, "expiry": int(a["newExpiry"])}
        if r.event == "RegistrationTransferred":
            return a["node"], {"name": None, "owner": a["newOwner"], "expiry": None}
        node = "0x" + int(a["id"]).to_bytes(32, "big").hex()  # TransferSingle: the token id is the node
        return node, {"name": None, "owner": a["to"], "expiry": None}

    def _fold(self, tx: Connection, records: list[LogRecord]) -> None:
        if not records:
            return
        events, changes = [], []
        for r in records:
            node, change = self._change(r)
            events.append(dict(**log_values(r), node=node, event_name=r.event, **change))
            changes.append((r, node, change))
        insert_rows(tx, self.t.threedns_name_events, events)
        states = self._current(tx, {(r.chain_id, node) for r, node, _ in changes})
        for r, node, change in changes:
            state = states.setdefault((r.chain_id, node), {"name": None, "owner": None, "expiry": None})
            for key, value in change.items():
                if value is not None:
                    state[key] = value
            state["block_number"], state["log_index"] = r.block_number, r.log_index
        rows = [
            dict(state, chain_id=chain_id, node=node, owner=None if state["owner"] == ZERO_ADDRESS else state["owner"])
            for (chain_id, node), state in states.items()
            if "block_number" in state
        ]
        self._upsert(tx, rows)

    def _current(self, tx: Connection, keys: set[tuple[int, str]]) -> dict[tuple[int, str], dict[str, Any]]:
        """The current state of these names, for those that have one."""
        n = self.t.threedns_names
        states: dict[tuple[int, str], dict[str, Any]] = {}
        by_chain: dict[int, list[str]] = {}
        for chain_id, node in keys:
            by_chain.setdefault(chain_id, []).append(node)
        for chain_id, nodes in by_chain.items():
            query = select(n.c.node, n.c.name, n.c.owner, n.c.expiry).where(n.c.chain_id == chain_id)
            for row in rows_with_keys(tx, query, n.c.node, nodes):
                states[(chain_id, row.node)] = {"name": row.name, "owner": row.owner, "expiry": row.expiry}
        return states

    def revert(self, tx: Connection, chain_id: int, from_block: int) -> None:
        e = self.t.threedns_name_events
        nodes = tx.execute(
            select(e.c.node).distinct().where(e.c.chain_id == chain_id, e.c.block_number >= from_block)
        ).scalars()
        nodes = list(nodes)
        tx.execute(delete(e).where(e.c.chain_id == chain_id, e.c.block_number >= from_block))
        for node in nodes:
            self._rebuild(tx, chain_id, node)

    def _rebuild(self, tx: Connection, chain_id: int, node: str) -> None:
        """The name's current row, folded from its events in chain order."""
        e, n = self.t.threedns_name_events, self.t.threedns_names
        rows = tx.execute(
            select(e).where(e.c.chain_id == chain_id, e.c.node == node).order_by(e.c.block_number, e.c.log_index)
        ).all()
        tx.execute(delete(n).where(n.c.chain_id == chain_id, n.c.node == node))
        if not rows:
            return
        state: dict[str, Any] = {"name": None, "owner": None, "expiry": None}
        for row in rows:
            for key in state:
                if row._mapping[key] is not None:
                    state[key] = row._mapping[key]
        if state["owner"] == ZERO_ADDRESS:
            state["owner"] = None
        last = rows[-1]
        tx.execute(
            insert(n),
            dict(chain_id=chain_id, node=node, **state, block_number=last.block_number, log_index=last.log_index),
        )


def names_owned_by(conn: Connection, owner: str) -> list[dict[str, Any]]:
    query = select(threedns_names).where(threedns_names.c.owner == owner.lower()).order_by(threedns_names.c.name)
    return [dict(row._mapping) for row in conn.execute(query)]
