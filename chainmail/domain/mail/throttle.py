"""Failed sign-ins counted per account and time window, so a password cannot be guessed at speed.

WildDuck allows 12 failures per user in a 120-second window (a Redis TTL counter); here each window is
a small aggregate, so counting never grows the account's own event stream.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.ids import natural_id

USER_AUTH_FAILURES = 12
USER_AUTH_WINDOW = timedelta(seconds=120)


def window_of(moment: datetime) -> int:
    return int(moment.timestamp() // USER_AUTH_WINDOW.total_seconds())


class AuthThrottle(Aggregate):
    @staticmethod
    def create_id(user_id: str, window: int) -> UUID:
        return natural_id("auth-throttle", f"{user_id}:{window}")

    @event("Opened")
    def __init__(self, user_id: str, window: int) -> None:
        self.user_id, self.window, self.failures = user_id, window, 0

    @event("FailureCounted")
    def count_failure(self) -> None:
        self.failures += 1

    @event("Released")
    def release(self) -> None:
        self.failures = 0

    @property
    def exhausted(self) -> bool:
        return self.failures >= USER_AUTH_FAILURES

    def retry_after(self, now: datetime) -> int:
        """Seconds until the window closes."""
        end = (self.window + 1) * USER_AUTH_WINDOW.total_seconds()
        return max(int(end - now.timestamp()), 1)
