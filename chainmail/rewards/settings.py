"""Settings of points (TOML `[rewards]`, or `CHAINMAIL_REWARDS` as JSON)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from chainmail.domain.rewards.points import DEFAULT_POINTS, PointsTable


class RewardsSettings(BaseModel):
    # Points per activity, merged over the defaults (send/reply/forward 5, first_login 10, referral 50, ...);
    # an activity set to a negative number is removed.
    points: dict[str, int] = Field(default_factory=dict)
    # Mail actions (send, reply, forward) rewarded per wallet per UTC day; more answer 429.
    daily_mail_actions: int = Field(default=100, ge=0)
    # Seconds a process may answer the points leaderboard from its last read (it ranks every wallet: a page
    # that each visitor polls costs one query a second per process); 0 reads the balances every time.
    leaderboard_seconds: float = Field(default=1.0, ge=0, le=3600)

    def points_table(self) -> PointsTable:
        amounts = {**DEFAULT_POINTS, **self.points}
        return PointsTable(
            amounts={k: v for k, v in amounts.items() if v >= 0}, daily_mail_actions=self.daily_mail_actions
        )


def rewards_settings(settings: Any) -> RewardsSettings:
    value = getattr(settings, "rewards", None)
    return value if isinstance(value, RewardsSettings) else RewardsSettings()
