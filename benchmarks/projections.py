"""Projection catch-up rate: 100k User.Created events folded into the `users` read model.

Run: .venv/bin/python benchmarks/projections.py [--events 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from benchmarks._stores import database
from chainmail.domain.application import IdSource
from chainmail.domain.mail.application import Mail
from chainmail.domain.mail.users import User
from chainmail.projections.runner import ProjectionRunner
from chainmail.projections.users import UsersProjection
from chainmail.store.database import make_engine
from chainmail.store.events import event_store_env


def record(app: Mail, count: int, batch: int) -> None:
    ids, now = IdSource(), datetime.now(UTC)
    for start in range(0, count, batch):
        users = []
        for i in range(start, min(start + batch, count)):
            users.append(
                User(
                    user_id=ids.object_id(now),
                    username=f"user{i}",
                    unameview=f"user{i}",
                    name="",
                    address=f"user{i}@example.com",
                    address_id=None,
                    password_hash="",
                    tags=["bench", f"t{i % 10}"],
                    profile={"quota": 0, "targets": []},
                    created_at=now,
                )
            )
        app.save(*users)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    for store in ("sqlite", "postgres"):
        with database(store) as url:
            app = Mail(env=event_store_env(url, create_tables=False))
            record(app, args.events, 1000)
            engine = make_engine(url)
            runner = ProjectionRunner(engine, {app.name: app}, [UsersProjection], batch_size=args.batch)
            started = time.perf_counter()
            applied = runner.catch_up(runner.projections["users"], app)
            elapsed = time.perf_counter() - started
            replay_started = time.perf_counter()
            runner.replay("users")
            replay_elapsed = time.perf_counter() - replay_started
            print(
                f"{store:9} catch-up {applied:,} events in {elapsed:6.1f} s = {applied / elapsed:8,.0f} ev/s"
                f" | replay into fresh tables + swap {applied / replay_elapsed:8,.0f} ev/s"
            )
            app.close()
            engine.dispose()


if __name__ == "__main__":
    main()
