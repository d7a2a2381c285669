"""Failed sign-ins counted per account in a rolling window, so a password cannot be guessed at speed.

WildDuck allows 12 failures per user in 120 seconds (a Redis counter, `auth_user:<id>`), counts failures
against unknown names too, and forgets them on a success. The counts are operational state shared by all
workers, so the application is handed a limiter (the database's, `chainmail.store.rate_limits`) rather
than recording them as events.
"""

from __future__ import annotations

from typing import Protocol

USER_AUTH_FAILURES = 12
USER_AUTH_WINDOW = 120.0  # seconds


class Verdict(Protocol):
    @property
    def allowed(self) -> bool: ...


class RateLimits(Protocol):
    def hit(self, key: str, limit: int, window: float, *, now: float | None = None) -> Verdict: ...

    def peek(self, key: str, limit: int, window: float, *, now: float | None = None) -> Verdict: ...

    def release(self, key: str) -> None: ...


def failures_key(user: str) -> str:
    """The counter of one account (its id) or of an unknown login name (its normalised form)."""
    return f"auth_user:{user}"
