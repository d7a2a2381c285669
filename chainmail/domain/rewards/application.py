"""The rewards context's command side: `award()` is the one way points are earned."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

from eventsourcing.application import AggregateNotFoundError

from chainmail.domain.application import ContextApplication
from chainmail.domain.rewards.points import OneTimeAward, PointsDay, PointsTable


@dataclass(frozen=True)
class Award:
    """What an award did: the points it gave (0 when a one-time award was already claimed)."""

    wallet: str
    activity: str
    points: int
    awarded: bool


class Rewards(ContextApplication):
    name: ClassVar[str] = "Rewards"
    # Awards to one wallet race only on the same day's aggregate; a loser reruns against the winner's events.
    conflict_retries: ClassVar[int] = 20

    def __init__(self, *args: Any, table: PointsTable | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table or PointsTable()

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Rewards:
        from chainmail.rewards.settings import rewards_settings

        return cls(table=rewards_settings(settings).points_table(), **kwargs)

    def award(
        self, wallet: str, chain_type: str, activity: str, *, once: str | None = None, reason: str | None = None
    ) -> Award:
        """Give `wallet` the points `activity` earns. With `once`, only the first award under that key counts.

        Raises UnknownActivity (400) for an activity the table does not know and DailyCapReached (429)
        when the wallet's mail actions for today are used up.
        """
        amount = self.table.amount(activity)
        command = partial(self._award, wallet, chain_type, activity, amount, once, reason)
        return self.retrying(command, key=f"points:{wallet}")  # a wallet's awards in turn: one may be hot

    def _award(
        self, wallet: str, chain_type: str, activity: str, amount: int, once: str | None, reason: str | None
    ) -> Award:
        now = self.clock()
        marker: OneTimeAward | None = None
        if once is not None:
            if self._exists(OneTimeAward.create_id(wallet, once)):
                return Award(wallet, activity, 0, False)
            marker = OneTimeAward(wallet=wallet, key=once, at=now)
        today = PointsDay.day_of(now)
        try:
            day: PointsDay = self.repository.get(PointsDay.create_id(wallet, today))
        except AggregateNotFoundError:
            day = PointsDay(wallet=wallet, chain_type=chain_type, day=today)
        day.award(activity, amount, now, self.table, reason=reason)
        self.save(day, *([marker] if marker else []))
        return Award(wallet, activity, amount, True)

    def _exists(self, aggregate_id: Any) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True
