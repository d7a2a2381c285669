"""Mail store figures, printed (not a test): messages appended per second through the API (small and
100 KB), and `GET .../messages` latency on a mailbox of 100k messages.

    .venv/bin/python benchmarks/mail_store.py [--database-url URL] [--small 500] [--large 100] [--big 100000]

Without --database-url a fresh SQLite file in a temporary directory is used (migrated first).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import falcon.testing

from chainmail.config import Settings
from chainmail.http.app import create_app
from chainmail.mail.mime import parse_message
from chainmail.mail.store import MailStore
from chainmail.store.blobs import put_blob
from chainmail.store.database import writer
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


def append_rate(client: falcon.testing.TestClient, user: str, inbox: str, count: int, body_size: int) -> float:
    text = ("lorem ipsum dolor sit amet " * (body_size // 27 + 1))[:body_size]
    started = time.perf_counter()
    for n in range(count):
        answer = client.simulate_post(
            f"/api/users/{user}/mailboxes/{inbox}/messages",
            json={"subject": f"benchmark {n}", "text": f"{n} {text}", "to": [{"address": "x@example.com"}]},
        )
        assert answer.status_code == 200, answer.text
    return count / (time.perf_counter() - started)


def fill(system: System, user: str, mailbox: str, count: int, batch: int = 1000) -> float:
    """Append `count` messages in batches of facts (one event per batch), as a bulk import would."""
    store = MailStore(system)
    raw = b"From: Bulk <bulk@example.org>\r\nTo: u@example.com\r\nSubject: bulk\r\n\r\nhello bulk\r\n"
    parsed = parse_message(raw)
    with writer(system.engine).begin() as tx:
        blob = put_blob(tx, raw)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    for first in range(0, count, batch):
        facts = []
        for n in range(first, min(first + batch, count)):
            now = start + timedelta(seconds=n)
            facts.append(
                store.facts(
                    system.mail.ids.object_id(now),
                    parsed,
                    blob_sha256=blob.sha256,
                    size=blob.size,
                    flags=["\\Seen"] if n % 3 else [],
                    idate=now,
                    thread=system.mail.ids.object_id(now),
                    attachment_blobs={},
                    meta_data=None,
                    envelope={"from": "bulk@example.org", "rcpt": []},
                    special_use=None,
                )
            )
        system.mail.append_messages(user, mailbox, facts)
    return count / (time.perf_counter() - started)


def latency(client: falcon.testing.TestClient, path: str, params: dict, runs: int = 20) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = client.simulate_get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=100)
    parser.add_argument("--big", type=int, default=100_000)
    args = parser.parse_args()

    system = build(args.database_url)
    client = falcon.testing.TestClient(create_app(system), headers={"X-Access-Token": TOKEN})
    user = client.simulate_post("/api/users", json={"username": "bench", "password": "benchmark1"}).json["id"]
    boxes = {m["path"]: m["id"] for m in client.simulate_get(f"/api/users/{user}/mailboxes").json["results"]}

    rate = append_rate(client, user, boxes["INBOX"], args.small, 200)
    print(f"append, small (~0.5 KB) via API: {rate:8.1f} messages/s over {args.small}")
    rate = append_rate(client, user, boxes["Sent Mail"], args.large, 100 * 1024)
    print(f"append, 100 KB via API:          {rate:8.1f} messages/s over {args.large}")

    big = client.simulate_post(f"/api/users/{user}/mailboxes", json={"path": "Big"}).json["id"]
    rate = fill(system, user, big, args.big)
    print(f"bulk fill of 'Big' (1000 per event): {rate:8.1f} messages/s over {args.big}")

    path = f"/api/users/{user}/mailboxes/{big}/messages"
    first = client.simulate_get(path, params={"limit": 50}).json
    cursor = first["nextCursor"]
    for label, params in (
        ("first page, 20", {}),
        ("first page, 250", {"limit": 250}),
        ("next page via cursor, 50", {"limit": 50, "next": cursor}),
        ("ascending, 50", {"order": "asc", "limit": 50}),
        ("unseen only, 50", {"unseen": "true", "limit": 50}),
    ):
        if params.get("next") is False:
            continue
        median, worst = latency(client, path, params)
        print(f"GET messages on {args.big} ({label}): median {median:7.1f} ms, max {worst:7.1f} ms")
    median, worst = latency(client, f"/api/users/{user}/mailboxes", {"counters": "true"})
    print(f"GET mailboxes with counters: median {median:7.1f} ms, max {worst:7.1f} ms")
    system.close()


if __name__ == "__main__":
    main()
