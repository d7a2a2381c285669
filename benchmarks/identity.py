"""Wallet identity figures: signature checks per second (EVM, Solana), signed requests per second through
the indexer API (`GET /wallets/:w/authenticated`), and wallet logins per second (`POST /authenticate`,
which also records the login as events), on each store.

    .venv/bin/python -m benchmarks.identity [--n 300]
"""

from __future__ import annotations

import argparse
import time
from urllib.parse import quote

import falcon.testing

from benchmarks._stores import database
from chainmail.config import Settings
from chainmail.domain.identity.signatures import parse_wallet, verify_signature
from chainmail.http.app import create_app
from chainmail.system import System
from tests.integration.identity_wallets import EvmWallet, SolanaWallet, sign_in_message


def rate(n: int, started: float) -> str:
    return f"{n / (time.perf_counter() - started):,.0f}/s"


def pure(n: int) -> None:
    for wallet in (EvmWallet(), SolanaWallet()):
        parsed = parse_wallet(wallet.address)
        assert parsed is not None
        signature = wallet.sign("hello")
        started = time.perf_counter()
        for _ in range(n):
            assert verify_signature(parsed, "hello", signature)
        print(f"verify {parsed.chain_type:6}: {rate(n, started)}")


def through_api(store: str, n: int) -> None:
    with database(store) as url:
        system = System(Settings(database_url=url, api_access_token="bench", email_domain="example.com"))
        try:
            client = falcon.testing.TestClient(create_app(system))
            wallet = EvmWallet()
            message = sign_in_message(client, wallet)
            headers = {"x-message": quote(message, safe=""), "x-signature": wallet.sign(message)}
            started = time.perf_counter()
            for _ in range(n):
                assert (
                    client.simulate_get(f"/idx/wallets/{wallet.address}/authenticated", headers=headers).status_code
                    == 200
                )
            print(f"{store:8} signed GET /authenticated: {rate(n, started)}")
            body = {"username": wallet.canonical, "message": message, "signature": headers["x-signature"]}
            started = time.perf_counter()
            done = 0
            for _ in range(n):
                got = client.simulate_post("/idx/authenticate", json=body)
                if got.status_code == 429:
                    break
                assert got.status_code == 200, got.text
                done += 1
            print(
                f"{store:8} POST /authenticate (login recorded): {rate(done, started)} ({done} before the rate limit)"
            )
        finally:
            system.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    pure(args.n * 10)
    for store in ("sqlite", "postgres"):
        through_api(store, args.n)


if __name__ == "__main__":
    main()
