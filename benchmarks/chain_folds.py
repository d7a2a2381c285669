"""Fold rate of each chain read model on its own: events/s from pages of decoded logs to committed rows.

Run: .venv/bin/python -m benchmarks.chain_folds [--events 100000] [--page 5000] [--stores postgres,sqlite]
The logs are the dense chain's mix (80% MailSent, 10% PreparedMailSent, 10% DelegationSet over 2,000
delegators, a tenth of those clears), plus SharesRecorded and 3DNS events for the read models that take
them; each read model folds them a page per transaction, as the indexer's saves do, into a fresh database.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from sqlalchemy import create_engine, text

from benchmarks._stores import database
from chainmail.domain.chain.abi import CURRENT, MAILER, THREEDNS
from chainmail.domain.chain.delegations import ZERO_ADDRESS
from chainmail.domain.chain.logs import LogRecord
from chainmail.projections.chain_logs import ChainProjection, EventLogProjection
from chainmail.projections.chain_mails import MailsProjection
from chainmail.projections.chain_names import ThreeDnsNamesProjection
from chainmail.projections.delegations import DelegationsProjection
from chainmail.projections.projection import BatchedWrites
from chainmail.projections.user_statistics import UserStatisticsProjection

MAILER_ADDRESS = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
THREEDNS_ADDRESS = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"


def _address(n: int) -> str:
    return "0x" + f"{n:040x}"


def dense_logs(events: int, seed: int = 1) -> list[dict[str, Any]]:
    """The dense chain's logs: 50 per block, MailSent/PreparedMailSent/DelegationSet as 8:1:1."""
    rng = random.Random(seed)
    logs = []
    for i in range(events):
        block, index = 1 + i // 50, i % 50
        kind = i % 10
        base = dict(
            chain_id=31337,
            contract=MAILER,
            address=MAILER_ADDRESS,
            abi_version=CURRENT,
            block_number=block,
            block_hash="0x" + f"{block:064x}",
            block_time=1_700_000_000 + block,
            tx_hash="0x" + f"{block:064x}",
            tx_index=0,
            log_index=index,
        )
        sender, recipient = _address(rng.randrange(1, 5000)), _address(rng.randrange(1, 5000))
        if kind < 8:
            args = {
                "from": sender,
                "payer": sender,
                "to": recipient,
                "subject": f"subject {i}",
                "body": f"body of mail {i}",
                "revenueShareToReceiver": False,
                "resolveSenderToName": False,
                "feePaid": True,
            }
            logs.append(LogRecord(event="MailSent", args=args, **base).to_json())
        elif kind == 8:
            args = {
                "from": sender,
                "payer": sender,
                "to": recipient,
                "mailId": "0x" + f"{i:064x}",
                "revenueShareToReceiver": False,
                "resolveSenderToName": False,
                "feePaid": True,
            }
            record = LogRecord(event="PreparedMailSent", args=args, recovered={"mailId": f"mail-{i}"}, **base)
            logs.append(record.to_json())
        else:
            delegator = _address(rng.randrange(1, 2000))
            clear = rng.random() < 0.1
            delegate = ZERO_ADDRESS if clear else _address(rng.randrange(1, 2000))
            args = {"delegator": delegator, "delegate": delegate}
            logs.append(LogRecord(event="DelegationSet", args=args, tx_from=delegator, **base).to_json())
    return logs


def names_logs(events: int, seed: int = 2) -> list[dict[str, Any]]:
    """3DNS registrations, extensions and transfers over 5,000 names."""
    rng = random.Random(seed)
    logs = []
    for i in range(events):
        block, index = 1 + i // 50, i % 50
        node_n = rng.randrange(1, 5000)
        node = "0x" + f"{node_n:064x}"
        base = dict(
            chain_id=10,
            contract=THREEDNS,
            address=THREEDNS_ADDRESS,
            abi_version=CURRENT,
            block_number=block,
            block_hash="0x" + f"{block:064x}",
            block_time=1_700_000_000 + block,
            tx_hash="0x" + f"{block:064x}",
            tx_index=0,
            log_index=index,
        )
        pick = rng.random()
        if pick < 0.4:
            label = f"name{node_n}".encode()
            fqdn = "0x" + (bytes([len(label)]) + label + b"\x03xyz\x00").hex()
            args = {"node": node, "fqdn": fqdn, "registrant": _address(node_n), "expiry": 1_800_000_000 + i}
            logs.append(LogRecord(event="RegistrationCreated", args=args, **base).to_json())
        elif pick < 0.7:
            args = {"node": node, "newExpiry": 1_900_000_000 + i}
            logs.append(LogRecord(event="RegistrationExtended", args=args, **base).to_json())
        else:
            args = {"node": node, "newOwner": _address(rng.randrange(1, 9000))}
            logs.append(LogRecord(event="RegistrationTransferred", args=args, **base).to_json())
    return logs


def shares_logs(events: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    logs = []
    for i in range(events):
        block, index = 1 + i // 50, i % 50
        base = dict(
            chain_id=31337,
            contract=MAILER,
            address=MAILER_ADDRESS,
            abi_version=CURRENT,
            block_number=block,
            block_hash="0x" + f"{block:064x}",
            block_time=1_700_000_000 + block,
            tx_hash="0x" + f"{block:064x}",
            tx_index=0,
            log_index=index,
        )
        recipient = _address(rng.randrange(1, 5000))
        if i % 2:
            args = {"recipient": recipient, "recipientAmount": 900 + i, "ownerAmount": 100}
            logs.append(LogRecord(event="SharesRecorded", args=args, **base).to_json())
        else:
            args = {"recipient": recipient, "amount": 10}
            logs.append(LogRecord(event="RecipientClaimed", args=args, **base).to_json())
    return logs


def fold_rate(url: str, projection: ChainProjection, logs: list[dict[str, Any]], page: int) -> float:
    """Events/s folding `logs` a page per transaction, as the indexer's saves do."""
    engine = create_engine(url)
    try:
        start = time.perf_counter()
        for offset in range(0, len(logs), page):
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":  # as the projection runner's transactions
                    conn.execute(text("SET LOCAL synchronous_commit = off"))
                writes = BatchedWrites(conn)
                projection.fold(writes, logs[offset : offset + page])  # type: ignore[arg-type]
                writes.flush()
        return len(logs) / (time.perf_counter() - start)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=5_000, help="logs per page (one transaction each)")
    parser.add_argument("--stores", default="postgres")
    args = parser.parse_args()
    dense = dense_logs(args.events)
    cases: list[tuple[str, type[ChainProjection], list[dict[str, Any]]]] = [
        ("event log (evm_event_log)", EventLogProjection, dense),
        ("mails (evm_mails)", MailsProjection, dense),
        ("delegations (evm_delegations + history)", DelegationsProjection, dense),
        ("statistics (user_statistics)", UserStatisticsProjection, dense),
        ("shares (evm_shares)", MailsProjection, shares_logs(args.events)),
        ("names (threedns_names + events)", ThreeDnsNamesProjection, names_logs(args.events)),
    ]
    for store in args.stores.split(","):
        for label, cls, logs in cases:
            taken = sum(1 for d in logs if (d["contract"], d["event"]) in cls._log_handlers) or len(logs)
            with database(store) as url:
                rate = fold_rate(url, cls(None), logs, args.page)
            # events/s over the logs the read model takes (a read model skips the others in passing)
            seconds = len(logs) / rate
            print(
                f"{store:8} {label:42} {taken:>7,} of {len(logs):,} logs in {seconds:5.2f} s = "
                f"{taken / seconds:>8,.0f} events/s ({rate:,.0f} logs/s offered)"
            )


if __name__ == "__main__":
    main()
