"""Event append rate on SQLite and PostgreSQL, single-event and batched saves, against raw inserts.

Run: .venv/bin/python benchmarks/event_store.py [--events 100000] [--single 2000]
Prints events/s; the PostgreSQL baseline is psycopg COPY into a table of the events table's shape.
"""

from __future__ import annotations

import argparse
import time
import uuid

import psycopg
from eventsourcing.domain import Aggregate, event

from benchmarks._stores import database
from chainmail.domain.application import ContextApplication
from chainmail.store.events import event_store_env


class Reading(Aggregate):
    @event("Recorded")
    def __init__(self, sensor: str, value: int) -> None:
        self.sensor, self.value = sensor, value


class Bench(ContextApplication):
    name = "Bench"


def single_saves(app: Bench, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        app.save(Reading(sensor="s", value=i))
    return count / (time.perf_counter() - started)


def batched_saves(app: Bench, count: int, batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, count, batch):
        app.save(*[Reading(sensor="s", value=i) for i in range(start, min(start + batch, count))])
    return count / (time.perf_counter() - started)


def raw_copy(url: str, count: int) -> float:
    state = b'{"sensor":"s","value":1,"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-25T00:00:00+00:00"}}'
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute(
            "CREATE TABLE raw_events (originator_id uuid, originator_version bigint, topic text, state bytea, "
            "notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        conn.commit()
        rows = [(uuid.uuid4(), 1, "benchmarks.event_store:Reading.Recorded", state) for _ in range(count)]
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY raw_events (originator_id, originator_version, topic, state) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return count / (time.perf_counter() - started)


def raw_sqlite(url: str, count: int) -> float:
    import sqlite3

    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
        "PRIMARY KEY (originator_id, originator_version))"
    )
    rows = [(str(uuid.uuid4()), 1, "benchmarks.event_store:Reading.Recorded", b"x" * 100) for _ in range(count)]
    started = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO raw_events VALUES (?,?,?,?)", rows)
    conn.close()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    for store in ("sqlite", "postgres"):
        with database(store) as url:
            app = Bench(env=event_store_env(url, create_tables=True))
            single = single_saves(app, args.single)
            batched = batched_saves(app, args.events, args.batch)
            app.close()
            raw = raw_copy(url, args.events) if store == "postgres" else raw_sqlite(url, args.events)
            baseline = "psycopg COPY" if store == "postgres" else "sqlite3 executemany"
            print(
                f"{store:9} single-event saves {single:9,.0f} ev/s | batched ({args.batch}/save) {batched:9,.0f} ev/s"
                f" | raw {baseline} {raw:9,.0f} rows/s | batched/raw {batched / raw:.2f}"
            )


if __name__ == "__main__":
    main()
