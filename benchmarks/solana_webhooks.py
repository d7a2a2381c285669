"""Helius webhook ingestion through the API, on both stores.

Run: .venv/bin/python -m benchmarks.solana_webhooks [--deliveries 20] [--per-delivery 100]
Builds real signed Mailer transactions (solders), posts them as raw deliveries to `POST /idx/solana/webhook`
(read models folded before each answer), then posts every delivery again: prints transactions/s for new
deliveries and for redeliveries (recognised, nothing appended), and the time to build and decode alone.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import falcon.testing
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from benchmarks._stores import database
from chainmail.config import Settings
from chainmail.domain.chain.solana import MAINNET, SOLANA_NETWORKS
from chainmail.http.app import create_app
from chainmail.indexer.solana.decoding import mailer_calls
from chainmail.indexer.solana.payloads import parse_delivery
from chainmail.indexer.solana.settings import SolanaNetworkSettings, SolanaSettings
from chainmail.indexer.solana.synthetic import TOKEN_PROGRAM, MailerTransaction, claim_account
from chainmail.system import System

PROGRAM = SOLANA_NETWORKS[MAINNET].program_id
SECRET = "benchmark-secret"


def build(deliveries: int, per_delivery: int) -> list[list[dict[str, Any]]]:
    senders = [Keypair() for _ in range(20)]
    out, slot = [], 1
    for d in range(deliveries):
        items = []
        for i in range(per_delivery):
            to = Pubkey.new_unique()
            accounts = [claim_account(PROGRAM, to), Pubkey.new_unique(), Pubkey.new_unique(), TOKEN_PROGRAM]
            args = {"to": str(to), "subject": f"bench {d}/{i}", "body": "x" * 200}
            args |= {"revenueShareToReceiver": i % 2 == 0, "resolveSenderToName": False}
            tx = MailerTransaction(PROGRAM, senders[i % len(senders)], "Send", args, accounts, slot=slot)
            items.append(tx.raw())
            slot += 1
        out.append(items)
    return out


def run(store: str, deliveries: list[list[dict[str, Any]]]) -> None:
    total = sum(len(d) for d in deliveries)
    with database(store) as url:
        solana = SolanaSettings(networks={MAINNET: SolanaNetworkSettings(auth_header=SECRET)})
        system = System(Settings(database_url=url, solana=solana))
        try:
            client = falcon.testing.TestClient(create_app(system))
            for label in ("new", "redelivered"):
                start = time.perf_counter()
                for items in deliveries:
                    got = client.simulate_post("/idx/solana/webhook", json=items, headers={"Authorization": SECRET})
                    assert got.status_code == 200, got.text
                seconds = time.perf_counter() - start
                print(
                    f"{store:8} {label:12} {total:6,} transactions in {seconds:6.2f} s = {total / seconds:8,.0f} tx/s"
                )
        finally:
            system.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20)
    parser.add_argument("--per-delivery", type=int, default=100)
    parser.add_argument("--stores", default="sqlite,postgres")
    options = parser.parse_args()
    start = time.perf_counter()
    deliveries = build(options.deliveries, options.per_delivery)
    total = sum(len(d) for d in deliveries)
    print(f"built {total:,} signed transactions in {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    for items in deliveries:
        mailer_calls(parse_delivery(items, PROGRAM), PROGRAM)
    seconds = time.perf_counter() - start
    print(f"validate + decode alone: {total / seconds:,.0f} tx/s")
    for store in options.stores.split(","):
        run(store, deliveries)


if __name__ == "__main__":
    main()
