"""3DNS names on Optimism: each registration's name, owner and expiry, from the ThreeDNSToken's events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, String, Table, Text, delete, insert, select

from chainmail.domain.chain.abi import THREEDNS
from chainmail.domain.chain.delegations import ZERO_ADDRESS
from chainmail.domain.chain.logs import LogRecord
from chainmail.domain.chain.recovery import dns_wire_name
from chainmail.projections.chain_logs import ChainProjection, add_row, log_columns, log_values, on_log
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
    name = "threedns_names"
    tables = (threedns_name_events, threedns_names)

    @on_log(THREEDNS, "RegistrationCreated")
    def created(self, tx: Connection, r: LogRecord) -> None:
        a = r.args
        self._event(tx, r, a["node"], name=dns_wire_name(a["fqdn"]), owner=a["registrant"], expiry=int(a["expiry"]))

    @on_log(THREEDNS, "RegistrationExtended")
    def extended(self, tx: Connection, r: LogRecord) -> None:
        self._event(tx, r, r.args["node"], expiry=int(r.args["newExpiry"]))

    @on_log(THREEDNS, "RegistrationTransferred")
    def transferred(self, tx: Connection, r: LogRecord) -> None:
        self._event(tx, r, r.args["node"], owner=r.args["newOwner"])

    @on_log(THREEDNS, "TransferSingle")
    def token_transferred(self, tx: Connection, r: LogRecord) -> None:
        node = "0x" + int(r.args["id"]).to_bytes(32, "big").hex()
        self._event(tx, r, node, owner=r.args["to"])

    def _event(self, tx: Connection, r: LogRecord, node: str, **change: Any) -> None:
        add_row(tx, self.t.threedns_name_events, dict(**log_values(r), node=node, event_name=r.event, **change))
        self._rebuild(tx, r.chain_id, node)

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
