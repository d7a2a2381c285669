"""The per-minute budget of the authentication and OAuth routes (per wallet, client or peer), shared by
every worker through the database's rolling-window limiter."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine

from chainmail.store.rate_limits import RollingWindowLimiter

WINDOW_SECONDS = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.per_minute = per_minute
        self.window = RollingWindowLimiter(engine, clock)

    def allow(self, key: str) -> bool:
        """Count one request under `key`; False when the last minute already had `per_minute`."""
        return self.window.hit(f"idx:{key}", self.per_minute, WINDOW_SECONDS).allowed
