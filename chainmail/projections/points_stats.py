"""The `points_site_stats` read model: points and wallets site-wide. One hot row, so it is kept by
`chainmail project` workers only (asynchronously), never in the request that awarded the points."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Connection, DateTime, Integer, String, Table, insert, select, update

from chainmail.domain.rewards.application import Rewards
from chainmail.domain.rewards.points import PointsDay
from chainmail.projections.projection import Projection, handles
from chainmail.store.schema import metadata

points_site_stats = Table(
    "points_site_stats",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("total_points", BigInteger, nullable=False),
    Column("total_users", Integer, nullable=False),
    Column("last_updated", DateTime(timezone=True), nullable=True),
)

# The wallets counted so far, so each is counted once.
points_site_wallets = Table(
    "points_site_wallets",
    metadata,
    Column("wallet", String(64), primary_key=True),
)

ROW = 1


class PointsSiteStatsProjection(Projection):
    name = "points_site_stats"
    follows = (Rewards,)
    tables = (points_site_stats, points_site_wallets)
    inline = False

    @handles(PointsDay.PointsAwarded)
    def awarded(self, tx: Connection, e: Any) -> None:
        wallets, stats = self.t.points_site_wallets, self.t.points_site_stats
        new_wallet = tx.execute(select(wallets.c.wallet).where(wallets.c.wallet == e.wallet)).first() is None
        if new_wallet:
            tx.execute(insert(wallets).values(wallet=e.wallet))
        changed = tx.execute(
            update(stats)
            .where(stats.c.id == ROW)
            .values(
                total_points=stats.c.total_points + e.amount,
                total_users=stats.c.total_users + (1 if new_wallet else 0),
                last_updated=e.at,
            )
        )
        if changed.rowcount == 0:
            tx.execute(insert(stats).values(id=ROW, total_points=e.amount, total_users=1, last_updated=e.at))


def site_stats(conn: Connection) -> dict[str, Any]:
    row = conn.execute(select(points_site_stats).where(points_site_stats.c.id == ROW)).first()
    if row is None:
        return {"total_points": 0, "total_users": 0, "last_updated": None}
    return dict(row._mapping)
