"""Points: the table of what each activity earns, the per-wallet day that enforces the daily cap on mail
actions, and the markers that make one-time awards (first login, a referral) happen once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from chainmail.domain.errors import Invalid
from chainmail.domain.ids import natural_id

# §7.1 proposal of the indexer spec; deployments override it in settings.
DEFAULT_POINTS: dict[str, int] = {
    "send": 5,
    "reply": 5,
    "forward": 5,
    "first_login": 10,
    "referral": 50,
    "priority_mail": 15,
    "delegate": 100,
    "receive_delegation": 50,
}
MAIL_ACTIONS = frozenset({"send", "reply", "forward"})


class UnknownActivity(Invalid):
    def __init__(self, activity: str) -> None:
        super().__init__("INVALID_ACTION", f"Unknown action: {activity}")


class DailyCapReached(Exception):
    """The wallet already earned points for its allowed number of mail actions today (HTTP 429)."""

    def __init__(self, wallet: str, cap: int) -> None:
        super().__init__(f"Daily limit of {cap} rewarded mail actions reached")
        self.wallet, self.cap = wallet, cap


@dataclass(frozen=True)
class PointsTable:
    """What each activity earns, and how many mail actions a wallet is rewarded for per (UTC) day."""

    amounts: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    daily_mail_actions: int = 100
    mail_actions: frozenset[str] = MAIL_ACTIONS

    def amount(self, activity: str) -> int:
        amount = self.amounts.get(activity)
        if amount is None:
            raise UnknownActivity(activity)
        return amount


class PointsDay(Aggregate):
    """One wallet's awards on one UTC day: small aggregates, so a busy wallet never loads its whole history,
    while two awards racing on the same day still meet in a version conflict (the cap holds)."""

    @staticmethod
    def create_id(wallet: str, day: str) -> UUID:
        return natural_id("rewards:day", f"{wallet}:{day}")

    @staticmethod
    def day_of(moment: datetime) -> str:
        """The UTC day of `moment` as YYYY-MM-DD."""
        return moment.astimezone(UTC).date().isoformat()

    @event("Opened")
    def __init__(self, wallet: str, chain_type: str, day: str) -> None:
        self.wallet, self.chain_type, self.day = wallet, chain_type, day
        self.mail_actions = 0

    def award(self, activity: str, amount: int, at: datetime, table: PointsTable, reason: str | None = None) -> None:
        mail_action = activity in table.mail_actions
        if mail_action and self.mail_actions >= table.daily_mail_actions:
            raise DailyCapReached(self.wallet, table.daily_mail_actions)
        self._awarded(
            wallet=self.wallet,
            chain_type=self.chain_type,
            activity=activity,
            amount=amount,
            at=at,
            reason=reason,
            mail_action=mail_action,
        )

    @event("PointsAwarded")
    def _awarded(
        self,
        wallet: str,
        chain_type: str,
        activity: str,
        amount: int,
        at: datetime,
        reason: str | None,
        mail_action: bool,
    ) -> None:
        if mail_action:
            self.mail_actions += 1


class OneTimeAward(Aggregate):
    """Marks an award that may happen once (a wallet's first login, the referral of one referee): a second
    attempt finds it, and two racing attempts collide on its deterministic id."""

    @staticmethod
    def create_id(wallet: str, key: str) -> UUID:
        return natural_id("rewards:once", f"{wallet}:{key}")

    @event("Claimed")
    def __init__(self, wallet: str, key: str, at: datetime) -> None:
        self.wallet, self.key, self.at = wallet, key, at
