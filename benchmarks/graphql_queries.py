"""GraphQL queries per second over 100k indexed mails, on both stores.

Run: .venv/bin/python -m benchmarks.graphql_queries [--mails 100000] [--wallets 1000] [--seconds 3]
     [--stores sqlite,postgres]
The mails are recorded through the chain context's own command (`record_logs`, a page of 1,000 logs per
block) and folded into the read models, then each query is sent through the Falcon app (HTTP handling,
parsing, validation, SQL and JSON included) for a few seconds, one client at a time.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import falcon.testing

from benchmarks._stores import database
from chainmail.config import Settings
from chainmail.domain.chain.application import Chain
from chainmail.domain.chain.logs import LogRecord
from chainmail.http.app import create_app
from chainmail.system import System

CHAIN, PER_BLOCK = 5, 1000


def wallet(i: int) -> str:
    return f"0x{i + 1:040x}"


def record(system: System, mails: int, wallets: int) -> tuple[float, float]:
    """Seconds to record (with the synchronous read models) and to fold the statistics view."""
    chain = system.context(Chain)
    cursor = chain.cursor(CHAIN, 1)
    start = time.perf_counter()
    for first in range(0, mails, PER_BLOCK):
        number = 1 + first // PER_BLOCK
        block_hash = f"0x{number:064x}"
        logs = [
            LogRecord(
                chain_id=CHAIN,
                contract="mailer",
                address="0x" + "11" * 20,
                event="MailSent",
                abi_version="current",
                block_number=number,
                block_hash=block_hash,
                block_time=1_700_000_000 + number * 12,
                tx_hash=f"0x{first + i:064x}",
                tx_index=i,
                log_index=i,
                args={
                    "from": wallet((first + i) % wallets),
                    "to": wallet((first + i * 7 + 3) % wallets),
                    "payer": wallet((first + i) % wallets),
                    "subject": f"Subject {first + i}",
                    "body": "body",
                    "revenueShareToReceiver": False,
                    "resolveSenderToName": False,
                    "feePaid": True,
                },
            )
            for i in range(min(PER_BLOCK, mails - first))
        ]
        header = [number, block_hash, f"0x{number - 1:064x}", logs[0].block_time]
        chain.record_logs(cursor, logs, to_block=number, to_hash=block_hash, headers=[header])
    recorded = time.perf_counter()
    system.projections.catch_up_all()  # the statistics view (folded by `chainmail project`)
    folded = time.perf_counter()
    if system.engine.dialect.name == "postgresql":
        with system.engine.connect() as conn:  # what autovacuum does soon after a bulk load
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return recorded - start, folded - recorded


def queries(client: falcon.testing.TestClient, mails: int) -> dict[str, str]:
    def data(text: str) -> Any:
        body = client.simulate_post("/idx/graphql", json={"query": text}).json
        assert "errors" not in body, body
        return body["data"]

    deep = min(5000, mails // 2)
    page = f'{{ mails(orderBy: "timestamp", orderDirection: "desc", limit: 50, offset: {deep}) {{ items {{ id }} }} }}'
    middle = data(page)["mails"]["items"][-1]["id"]
    deep_cursor = data(f'{{ mails(where: {{id: "{middle}"}}) {{ pageInfo {{ endCursor }} }} }}')
    cursor = deep_cursor["mails"]["pageInfo"]["endCursor"]
    items = "items { id from to subject timestamp blockNumber }"
    return {
        "first page (50, key order)": f"{{ mails {{ {items} pageInfo {{ endCursor hasNextPage }} }} }}",
        "newest 50 + totalCount": f'{{ mails(orderBy: "timestamp", orderDirection: "desc") {{ {items} totalCount }} }}',
        "mails from one wallet (50)": f'{{ mails(where: {{from: "{wallet(7)}"}}) {{ {items} }} }}',
        f"page after a cursor {deep:,} deep": f'{{ mails(after: "{cursor}") {{ {items} }} }}',
        "mail(id:) lookup": f'{{ mail(id: "{middle}") {{ id subject }} }}',
        "top 10 senders (userStatisticss)": '{ userStatisticss(orderBy: "mailsSent", orderDirection: "desc", '
        "limit: 10) { items { address mailsSent } } }",
        'chainStatistics(id: "global")': '{ chainStatistics(id: "global") { totalMails totalUsers } }',
        "subject_contains + totalCount (scan)": '{ mails(where: {subject_contains: "99"}, limit: 20) '
        "{ items { id } totalCount } }",
    }


def run(store: str, mails: int, wallets: int, seconds: float) -> None:
    with database(store) as url:
        system = System(Settings(database_url=url, email_domain="example.com"))
        try:
            recorded, folded = record(system, mails, wallets)
            print(f"{store}: {mails:,} mails recorded in {recorded:.1f} s, statistics folded in {folded:.1f} s")
            client = falcon.testing.TestClient(create_app(system))
            for name, text in queries(client, mails).items():
                count, start = 0, time.perf_counter()
                while time.perf_counter() - start < seconds:
                    got = client.simulate_post("/idx/graphql", json={"query": text})
                    assert got.status_code == 200 and "errors" not in got.json, got.text
                    count += 1
                elapsed = time.perf_counter() - start
                print(f"  {name:40} {count / elapsed:8,.0f} queries/s  {elapsed / count * 1000:7.2f} ms")
        finally:
            system.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=100_000)
    parser.add_argument("--wallets", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    for store in args.stores.split(","):
        run(store, args.mails, args.wallets, args.seconds)


if __name__ == "__main__":
    main()
