"""Mails sent through the Mailer contracts, the revenue-share ledger and the fee settings, with the
per-wallet and per-chain statistics computed from them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    String,
    Table,
    Text,
    case,
    delete,
    func,
    select,
)

from chainmail.domain.chain.abi import MAILER
from chainmail.domain.chain.logs import LogRecord
from chainmail.projections.bulk import Upsert, insert_rows
from chainmail.projections.chain_logs import ChainProjection, add_row, log_columns, log_values, on_log
from chainmail.store.schema import metadata

evm_mails = Table(
    "evm_mails",
    metadata,
    *log_columns(),
    Column("address", String(44), nullable=False),  # 44: Solana keys (base58) as well as EVM addresses
    Column("kind", String(16), nullable=False),  # direct | prepared | email | prepared_email | webhook
    Column("sender", String(44), nullable=False),
    Column("payer", String(44), nullable=False),
    Column("recipient", String(44), nullable=True),
    Column("to_email", Text, nullable=True),
    Column("subject", Text, nullable=True),
    Column("body", Text, nullable=True),
    Column("mail_id", Text, nullable=True),
    Column("mail_id_hash", String(66), nullable=True),
    Column("webhook_id", Text, nullable=True),
    Column("webhook_id_hash", String(66), nullable=True),
    Column("revenue_share", Boolean, nullable=False),
    Column("resolve_sender_to_name", Boolean, nullable=False),
    Column("fee_paid", Boolean, nullable=False),
    Column("abi_version", String(16), nullable=False),
    # the GraphQL orderings and filters: newest first by block or time, and a wallet's mails in key order
    Index(None, "block_number", "chain_id", "log_index"),
    Index(None, "block_time", "chain_id", "block_number", "log_index"),
    # (with the kind beside the key on PostgreSQL: a wallet's mails of some kinds are counted from the index)
    Index(None, "sender", "chain_id", "block_number", "log_index", postgresql_include=["kind"]),
    Index(None, "recipient", "chain_id", "block_number", "log_index", postgresql_include=["kind"]),
)

# How many mails of each kind each wallet sent and received, and each chain holds (role "chain", wallet ""),
# kept with the mails: GraphQL's totalCount of a wallet's mails reads a row per kind instead of counting them.
evm_mail_counts = Table(
    "evm_mail_counts",
    metadata,
    Column("role", String(9), primary_key=True),  # sender | recipient | chain
    Column("wallet", String(44), primary_key=True),
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), primary_key=True),
    Column("mails", BigInteger, nullable=False),
)

# Claimable revenue shares as a ledger: SharesRecorded adds, claims and expiry sweeps subtract.
evm_shares = Table(
    "evm_shares",
    metadata,
    *log_columns(),
    Column("address", String(42), nullable=False),
    Column("recipient", String(42), nullable=True),  # None: the owner's share
    Column("event_name", String(64), nullable=False),
    Column("delta", String(80), nullable=False),  # a uint256 as a signed decimal string
    Index(None, "recipient"),
)

# Contract settings as they change: fees, pauses, per-account fee percentages, payer permissions.
evm_fee_settings = Table(
    "evm_fee_settings",
    metadata,
    *log_columns(),
    Column("address", String(42), nullable=False),
    Column("setting", String(140), nullable=False),
    Column("value", String(80), nullable=False),
    Index(None, "chain_id", "setting"),
)

MAIL_KINDS = {
    "MailSent": "direct",
    "PreparedMailSent": "prepared",
    "MailSentToEmail": "email",
    "PreparedMailSentToEmail": "prepared_email",
    "WebhookMailSent": "webhook",
}


class MailsProjection(ChainProjection):
    name = "evm_mails"
    tables = (evm_mails, evm_mail_counts, evm_shares, evm_fee_settings)

    def __init__(self, bound: Mapping[str, Table] | None = None) -> None:
        super().__init__(bound)
        self._add_counts = Upsert(self.t.evm_mail_counts, COUNT_KEY, _add_mails)

    @on_log(MAILER, *MAIL_KINDS)
    def mail_sent(self, tx: Connection, r: LogRecord) -> None:
        self._mails(tx, [_mail_row(r.to_json())])

    def _mails(self, tx: Connection, mails: list[dict[str, Any]]) -> None:
        insert_rows(tx, self.t.evm_mails, mails)
        counted = Counter(key for row in mails for key in _counted(row))
        self._add_counts(tx, [dict(zip(COUNT_KEY, key, strict=True), mails=n) for key, n in counted.items()])

    def revert(self, tx: Connection, chain_id: int, from_block: int) -> None:
        """The reverted blocks' mails leave the counts, then the rows go."""
        m = self.t.evm_mails
        gone = (m.c.chain_id == chain_id, m.c.block_number >= from_block)
        counted: list[dict[str, Any]] = []
        for role, wallet in (("sender", m.c.sender), ("recipient", m.c.recipient), ("chain", None)):
            grouping = [m.c.kind] if wallet is None else [wallet, m.c.kind]
            query = select(*grouping, func.count()).where(*gone).group_by(*grouping)
            if wallet is not None:
                query = query.where(wallet.is_not(None))
            for *key, n in tx.execute(query):
                kind, address = key[-1], key[0] if wallet is not None else ""
                counted.append(dict(role=role, wallet=address, chain_id=chain_id, kind=kind, mails=-n))
        self._add_counts(tx, counted)
        c = self.t.evm_mail_counts.c
        tx.execute(delete(self.t.evm_mail_counts).where(c.chain_id == chain_id, c.mails == 0))
        super().revert(tx, chain_id, from_block)

    def fold(self, tx: Connection, logs: list[dict[str, Any]]) -> None:
        """A page's mails straight from its dicts into one insert (COPY on PostgreSQL); the page's other
        Mailer logs (shares, settings) through their handlers."""
        mails, others = [], []
        handled = self._log_handlers
        for d in logs:
            if d["event"] in MAIL_KINDS and d["contract"] == MAILER:
                mails.append(_mail_row(d))
            elif (d["contract"], d["event"]) in handled:
                others.append(d)
        self._mails(tx, mails)
        if others:
            super().fold(tx, others)

    @on_log(MAILER, "SharesRecorded")
    def shares_recorded(self, tx: Connection, r: LogRecord) -> None:
        self._share(tx, r, r.args["recipient"], int(r.args["recipientAmount"]), 0)
        self._share(tx, r, None, int(r.args["ownerAmount"]), 1)

    @on_log(MAILER, "RecipientClaimed", "ExpiredSharesClaimed")
    def recipient_share_gone(self, tx: Connection, r: LogRecord) -> None:
        self._share(tx, r, r.args["recipient"], -int(r.args["amount"]), 0)

    @on_log(MAILER, "OwnerClaimed")
    def owner_claimed(self, tx: Connection, r: LogRecord) -> None:
        self._share(tx, r, None, -int(r.args["amount"]), 0)

    def _share(self, tx: Connection, r: LogRecord, recipient: str | None, delta: int, part: int) -> None:
        # SharesRecorded makes two ledger rows for one log; the owner's row sits beside it at a half index.
        values = log_values(r)
        values["log_index"] = r.log_index * 2 + part
        add_row(
            tx,
            self.t.evm_shares,
            dict(**values, address=r.address, recipient=recipient, event_name=r.event, delta=str(delta)),
        )

    @on_log(MAILER, "FeeUpdated", "DelegationFeeUpdated")
    def fee_updated(self, tx: Connection, r: LogRecord) -> None:
        setting = "send_fee" if r.event == "FeeUpdated" else "delegation_fee"
        self._setting(tx, r, setting, str(r.args["newFee"]))

    @on_log(MAILER, "ContractPaused", "ContractUnpaused", "EmergencyUnpaused")
    def paused(self, tx: Connection, r: LogRecord) -> None:
        self._setting(tx, r, "paused", "true" if r.event == "ContractPaused" else "false")

    @on_log(MAILER, "FeePauseToggled")
    def fee_paused(self, tx: Connection, r: LogRecord) -> None:
        self._setting(tx, r, "fee_paused", "true" if r.args["feePaused"] else "false")

    @on_log(MAILER, "CustomFeePercentageSet")
    def custom_fee(self, tx: Connection, r: LogRecord) -> None:
        self._setting(tx, r, f"custom_fee_percentage:{r.args['account']}", str(r.args["percentage"]))

    @on_log(MAILER, "PermissionGranted", "PermissionRevoked")
    def permission(self, tx: Connection, r: LogRecord) -> None:
        setting = f"permission:{r.args['contractAddress']}:{r.args['wallet']}"
        self._setting(tx, r, setting, "true" if r.event == "PermissionGranted" else "false")

    def _setting(self, tx: Connection, r: LogRecord, setting: str, value: str) -> None:
        add_row(tx, self.t.evm_fee_settings, dict(**log_values(r), address=r.address, setting=setting, value=value))


COUNT_KEY = ("role", "wallet", "chain_id", "kind")


def _counted(row: dict[str, Any]) -> Iterator[tuple[str, str, int, str]]:
    """The counts (COUNT_KEY) one mail adds to."""
    chain_id, kind = row["chain_id"], row["kind"]
    yield "sender", row["sender"], chain_id, kind
    if row["recipient"] is not None:
        yield "recipient", row["recipient"], chain_id, kind
    yield "chain", "", chain_id, kind


def _add_mails(t: Table, new: Any) -> dict[str, Any]:
    return {"mails": t.c.mails + new.mails}


def _mail_row(d: dict[str, Any]) -> dict[str, Any]:
    """The evm_mails row of a mail log (`LogRecord.to_json()`)."""
    a, recovered = d["args"], d.get("recovered") or {}
    return {
        "chain_id": d["chain_id"],
        "block_number": d["block_number"],
        "log_index": d["log_index"],
        "block_hash": d["block_hash"],
        "block_time": d["block_time"],
        "tx_hash": d["tx_hash"],
        "address": d["address"],
        "kind": MAIL_KINDS[d["event"]],
        "sender": a["from"],
        "payer": a.get("payer") or a["from"],
        "recipient": a.get("to"),
        "to_email": a.get("toEmail"),
        "subject": a.get("subject"),
        "body": a.get("body"),
        "mail_id": recovered.get("mailId"),
        "mail_id_hash": a.get("mailId"),
        "webhook_id": recovered.get("webhookId"),
        "webhook_id_hash": a.get("webhookId"),
        "revenue_share": bool(a.get("revenueShareToReceiver", False)),
        "resolve_sender_to_name": bool(a.get("resolveSenderToName", False)),
        "fee_paid": bool(a.get("feePaid", True)),
        "abi_version": d["abi_version"],
    }


# -- queries ----------------------------------------------------------------------------------


def mails_of(conn: Connection, chain_id: int | None = None, **where: Any) -> list[dict[str, Any]]:
    query = select(evm_mails).order_by(evm_mails.c.chain_id, evm_mails.c.block_number, evm_mails.c.log_index)
    if chain_id is not None:
        query = query.where(evm_mails.c.chain_id == chain_id)
    for column, value in where.items():
        query = query.where(evm_mails.c[column] == value)
    return [dict(row._mapping) for row in conn.execute(query)]


def claimable_share(conn: Connection, chain_id: int, recipient: str | None) -> int:
    """What `recipient` (None: the owner) may still claim on one chain, in the fee token's units."""
    who = evm_shares.c.recipient.is_(None) if recipient is None else evm_shares.c.recipient == recipient.lower()
    rows = conn.execute(select(evm_shares.c.delta).where(evm_shares.c.chain_id == chain_id, who))
    return max(sum(int(row.delta) for row in rows), 0)


def fee_settings(conn: Connection, chain_id: int) -> dict[str, str]:
    """The latest value of every contract setting seen on a chain."""
    query = select(evm_fee_settings.c.setting, evm_fee_settings.c.value).where(evm_fee_settings.c.chain_id == chain_id)
    query = query.order_by(evm_fee_settings.c.block_number, evm_fee_settings.c.log_index)
    return {row.setting: row.value for row in conn.execute(query)}


def wallet_statistics(conn: Connection, address: str, chain_id: int | None = None) -> dict[str, Any]:
    """Mails sent and received by a wallet (Ponder's `userStatistics`)."""
    address = address.lower()
    prepared = evm_mails.c.kind.in_(("prepared", "prepared_email"))
    sent = select(
        func.count().label("all"),
        func.sum(case((prepared, 1), else_=0)).label("prepared"),
        func.min(evm_mails.c.block_time).label("first"),
        func.max(evm_mails.c.block_time).label("last"),
    ).where(evm_mails.c.sender == address)
    received = select(func.count().label("all"), func.sum(case((prepared, 1), else_=0)).label("prepared")).where(
        evm_mails.c.recipient == address
    )
    if chain_id is not None:
        sent = sent.where(evm_mails.c.chain_id == chain_id)
        received = received.where(evm_mails.c.chain_id == chain_id)
    s = conn.execute(sent).one()
    r = conn.execute(received).one()
    return {
        "address": address,
        "mailsSent": int(s.all) - int(s.prepared or 0),
        "preparedMailsSent": int(s.prepared or 0),
        "mailsReceived": int(r.all) - int(r.prepared or 0),
        "preparedMailsReceived": int(r.prepared or 0),
        "firstMailTimestamp": s.first,
        "lastMailTimestamp": s.last,
    }


def chain_statistics(conn: Connection) -> dict[str, Any]:
    """Totals over every indexed chain (Ponder's `chainStatistics(id: "global")`)."""
    prepared = evm_mails.c.kind.in_(("prepared", "prepared_email"))
    row = conn.execute(
        select(
            func.count().label("all"),
            func.sum(case((prepared, 1), else_=0)).label("prepared"),
            func.count(func.distinct(evm_mails.c.chain_id)).label("chains"),
            func.count(func.distinct(evm_mails.c.sender)).label("senders"),
        )
    ).one()
    return {
        "id": "global",
        "totalChains": int(row.chains),
        "totalMails": int(row.all) - int(row.prepared or 0),
        "totalPreparedMails": int(row.prepared or 0),
        "totalUsers": int(row.senders),
    }
