"""Rewards figures, printed (not a test): awards per second through `POST /idx/wallets/:w/points/add`
(the mail server's call after each submit), the leaderboard and a wallet's ranked balance over many
wallets, and the asynchronous site-statistics catch-up.

    .venv/bin/python -m benchmarks.rewards [--wallets 2000] [--awards 500] [--queries 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import falcon.testing
from eth_account import Account

from benchmarks._stores import database
from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.identity.settings import IdentitySettings
from chainmail.projections import points as points_model
from chainmail.rewards.settings import RewardsSettings
from chainmail.system import System

PEER = "127.0.0.1"


def timed(label: str, count: int, call: Callable[[int], object]) -> None:
    samples = []
    for n in range(count):
        start = time.perf_counter()
        call(n)
        samples.append((time.perf_counter() - start) * 1000)
    total = sum(samples) / 1000
    p95 = sorted(samples)[max(0, int(len(samples) * 0.95) - 1)]
    print(f"  {label}: {count / total:8.1f}/s   median {statistics.median(samples):6.2f} ms   p95 {p95:6.2f} ms")


def run(store: str, wallets: int, awards: int, queries: int) -> None:
    with database(store) as url:
        settings = Settings(
            database_url=url,
            email_domain="example.com",
            identity=IdentitySettings(internal_allowed_ips=[PEER]),
            rewards=RewardsSettings(daily_mail_actions=1_000_000),
        )
        system = System(settings)
        client = falcon.testing.TestClient(create_app(system))
        addresses = [Account.create().address.lower() for _ in range(wallets)]
        print(f"{store}:")

        def add(n: int) -> None:
            got = client.simulate_post(
                f"/idx/wallets/{addresses[n % wallets]}/points/add", json={"action": "send"}, remote_addr=PEER
            )
            assert got.status_code == 200, got.text

        timed(f"points/add, {awards} awards over {min(awards, wallets)} wallets", awards, add)
        start = time.perf_counter()
        for n, address in enumerate(addresses):
            system.apps["Rewards"].award(address, "evm", "send" if n % 3 else "reply")
        elapsed = time.perf_counter() - start
        print(f"  filling {wallets} wallets through the command side: {wallets / elapsed:8.1f} awards/s")
        timed(
            f"GET leaderboard/100 over {wallets} wallets",
            queries,
            lambda n: client.simulate_get("/idx/points/leaderboard/100"),
        )
        with system.engine.connect() as conn:
            timed(
                f"ranked balance of one wallet among {wallets}",
                queries,
                lambda n: points_model.balance_of(conn, addresses[n % wallets]),
            )
        start = time.perf_counter()
        folded = system.projections.catch_up(
            system.projections.projections["points_site_stats"], system.apps["Rewards"]
        )
        elapsed = time.perf_counter() - start
        print(f"  site statistics catch-up: {folded} awards in {elapsed:.2f} s ({folded / elapsed:8.1f}/s)")
        system.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wallets", type=int, default=2000)
    parser.add_argument("--awards", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    for store in args.stores.split(","):
        run(store, args.wallets, args.awards, args.queries)


if __name__ == "__main__":
    main()
