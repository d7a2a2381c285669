"""Accounts figures, printed (not a test): sign-ins per second, the cost a user token adds to a request,
and address creation through the API.

    .venv/bin/python benchmarks/accounts.py [--database-url URL] [--logins 50] [--requests 500] [--addresses 200]

Without --database-url a fresh SQLite file in a temporary directory is used (migrated first).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import falcon.testing

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.store.migrations import upgrade
from chainmail.system import System

TOKEN = "benchmark-root-token"


def build(url: str | None) -> System:
    if url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite'}"
    upgrade(url)
    System(Settings(database_url=url), create_tables=True).close()
    print(f"store: {url.split('://')[0]}")
    return System(Settings(database_url=url, api_access_token=TOKEN, email_domain="example.com"))


def timed(label: str, count: int, call) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for n in range(count):
        start = time.perf_counter()
        call(n)
        samples.append((time.perf_counter() - start) * 1000)
    total = sum(samples) / 1000
    print(
        f"{label}: {count / total:8.1f}/s   median {statistics.median(samples):6.2f} ms"
        f"   p95 {sorted(samples)[int(len(samples) * 0.95) - 1]:6.2f} ms"
    )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--addresses", type=int, default=200)
    args = parser.parse_args()

    system = build(args.database_url)
    root = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": TOKEN})
    user = root.simulate_post("/api/users", json={"username": "bench", "password": "bench-password"}).json["id"]

    def login(_: int) -> None:
        assert (
            root.simulate_post(
                "/api/authenticate", json={"username": "bench", "password": "bench-password"}
            ).status_code
            == 200
        )

    timed("POST /authenticate (PBKDF2-SHA256, 100k rounds)", args.logins, login)
    token = root.simulate_post(
        "/api/authenticate", json={"username": "bench", "password": "bench-password", "token": True}
    ).json["token"]
    as_user = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": token})
    root_times = timed(
        "GET /users/me-equivalent with the root token", args.requests, lambda _: root.simulate_get(f"/api/users/{user}")
    )
    user_times = timed(
        "GET /users/me with a user token", args.requests, lambda _: as_user.simulate_get("/api/users/me")
    )
    print(f"user-token check adds ~{statistics.median(user_times) - statistics.median(root_times):.2f} ms a request")
    timed(
        "POST /users/:user/addresses",
        args.addresses,
        lambda n: root.simulate_post(f"/api/users/{user}/addresses", json={"address": f"a{n}@bench.example.org"}),
    )
    system.close()


if __name__ == "__main__":
    main()
