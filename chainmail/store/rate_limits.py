"""Rate limits shared by every process on the database: a rolling window per key, kept in one small table.

Counters are operational state, not facts, so they live here and not in the event store. Each key has
one row holding the times of its recent hits (at most `limit` of them, so a row stays small); a hit
locks the row (`SELECT ... FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), drops the times
older than the window, and is counted only when fewer than `limit` remain. Two gunicorn workers, or two
machines on one PostgreSQL, therefore share every budget exactly.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Engine, Float, String, Table, Text, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chainmail.store.database import writer
from chainmail.store.schema import metadata

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("hits", Text, nullable=False),  # JSON list of the hit times (Unix seconds) inside the window
    Column("expires", Float, nullable=False, index=True),  # when the newest hit leaves the window
)

SWEEP_EVERY = 1000  # hits per process between deletions of rows whose window has passed


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    hits: int  # hits inside the window, this one included when it was counted
    retry_after: float  # seconds until the oldest hit leaves the window (0 when allowed)


class RollingWindowLimiter:
    """At most `limit` hits per `window` seconds per key, across every process on the database."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine, self.clock = engine, clock
        self._writes = writer(engine)
        self._since_sweep = 0
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window: float, *, now: float | None = None) -> Verdict:
        """Count one hit under `key` unless the window already holds `limit`; says whether it was counted."""
        now = self.clock() if now is None else now
        key = key[:255]
        with self._writes.begin() as tx:
            if tx.dialect.name == "postgresql":
                # A counter lost in a crash costs nothing; not waiting for the WAL flush halves a hit's time.
                tx.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            stored, times = self._locked(tx, key, now - window)
            allowed = len(times) < limit
            if allowed:
                times.append(now)
            times = times[-max(limit, 1) :]
            if allowed or len(times) != stored:  # a refused hit that drops nothing changes nothing
                tx.execute(
                    update(rate_limits)
                    .where(rate_limits.c.key == key)
                    .values(hits=json.dumps(times), expires=(max(times) if times else now) + window)
                )
        self._maybe_sweep(now)
        return _verdict(allowed, times, limit, window, now)

    def peek(self, key: str, limit: int, window: float, *, now: float | None = None) -> Verdict:
        """Whether a hit would be counted now, without counting one."""
        now = self.clock() if now is None else now
        with self.engine.connect() as conn:
            raw = conn.execute(select(rate_limits.c.hits).where(rate_limits.c.key == key[:255])).scalar_one_or_none()
        times = [t for t in json.loads(raw or "[]") if t > now - window]
        return _verdict(len(times) < limit, times, limit, window, now)

    def release(self, key: str) -> None:
        """Forget every hit under `key` (a successful sign-in clears its failures)."""
        with self._writes.begin() as tx:
            tx.execute(delete(rate_limits).where(rate_limits.c.key == key[:255]))

    def _locked(self, tx: Connection, key: str, since: float) -> tuple[int, list[float]]:
        """How many hit times the row holds, and those still inside the window; the row stays locked."""
        postgres = tx.dialect.name == "postgresql"
        statement = select(rate_limits.c.hits).where(rate_limits.c.key == key)
        if postgres:
            statement = statement.with_for_update()
        raw = tx.execute(statement).scalar_one_or_none()
        if raw is None:  # a first hit: make the row, or lock the one another writer made
            row = {"key": key, "hits": "[]", "expires": 0.0}
            if postgres:
                # One statement that inserts or locks, whatever others do meanwhile: after an insert that did
                # nothing, the row another writer made could be deleted (`release`) before a second select
                # locked it, which found nothing (concurrent sign-ins of one user answered 500).
                made = pg_insert(rate_limits).values(**row)
                upsert = made.on_conflict_do_update(index_elements=[rate_limits.c.key], set_={"key": made.excluded.key})
                raw = tx.execute(upsert.returning(rate_limits.c.hits)).scalar_one()
            else:  # the transaction began IMMEDIATE: it alone writes until it commits
                tx.execute(insert(rate_limits).values(**row).prefix_with("OR IGNORE"))
                raw = tx.execute(statement).scalar_one()
        stored = json.loads(raw)
        return len(stored), [t for t in stored if t > since]

    def _maybe_sweep(self, now: float) -> None:
        with self._lock:
            self._since_sweep += 1
            if self._since_sweep < SWEEP_EVERY:
                return
            self._since_sweep = 0
        with self._writes.begin() as tx:
            tx.execute(delete(rate_limits).where(rate_limits.c.expires < now))


def _verdict(allowed: bool, times: list[float], limit: int, window: float, now: float) -> Verdict:
    if allowed or not times:
        return Verdict(allowed, len(times), 0.0)
    oldest = sorted(times)[-limit] if len(times) >= limit else min(times)
    return Verdict(False, len(times), max(oldest + window - now, 0.0))
