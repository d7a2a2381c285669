"""The shared rate limiter's cost, printed (not a test): hits per second on one hot key and on many keys,
from one thread and from several (each with its own engine, as separate workers), on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.rate_limits [--hits 2000] [--threads 4] [--no-postgres]
"""

from __future__ import annotations

import argparse
import threading
import time

from benchmarks._stores import database
from chainmail.store.database import make_engine
from chainmail.store.rate_limits import RollingWindowLimiter


def run(url: str, hits: int, threads: int, hot: bool) -> float:
    engines = [make_engine(url) for _ in range(threads)]
    limiters = [RollingWindowLimiter(engine) for engine in engines]
    per_thread = hits // threads

    def work(n: int) -> None:
        for i in range(per_thread):
            key = "hot" if hot else f"key-{n}-{i % 500}"
            limiters[n].hit(key, 60, 60.0)  # the indexer's default budget; the hot key is refused after 60

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    for engine in engines:
        engine.dispose()
    return per_thread * threads / elapsed


def report(store: str, url: str, hits: int, threads: int) -> None:
    for label, count, hot in (
        ("1 thread, one key  ", 1, True),
        ("1 thread, 500 keys ", 1, False),
        (f"{threads} threads, one key ", threads, True),
        (f"{threads} threads, 500 keys", threads, False),
    ):
        rate = run(url, hits, count, hot)
        print(f"{store:10} {label}: {rate:8.0f} hits/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    for store in ["sqlite"] if args.no_postgres else ["sqlite", "postgres"]:
        with database(store) as url:
            report(store, url, args.hits, args.threads)


if __name__ == "__main__":
    main()
