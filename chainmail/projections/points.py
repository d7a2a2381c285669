"""The `points_balances` and `points_ledger` read models: each wallet's points (what the leaderboard
ranks) and every award with the balance before and after it, for audits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from chainmail.domain.rewards.application import Rewards
from chainmail.domain.rewards.points import PointsDay
from chainmail.projections.projection import Projection, handles
from chainmail.store.prepared import Prepared
from chainmail.store.schema import metadata

points_balances = Table(
    "points_balances",
    metadata,
    Column("wallet", String(64), primary_key=True),
    Column("chain_type", String(8), nullable=False),
    Column("points_earned", BigInteger, nullable=False),
    Column("total_activities", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
    Index(None, "points_earned", "created_at", "wallet"),
)

points_ledger = Table(
    "points_ledger",
    metadata,
    Column("day_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("wallet", String(64), nullable=False),
    Column("activity", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_before", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("reason", String(128), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index(None, "wallet", "created_at"),
)


class PointsProjection(Projection):
    name = "points"
    follows = (Rewards,)
    tables = (points_balances, points_ledger)

    @handles(PointsDay.PointsAwarded)
    def awarded(self, tx: Connection, e: Any) -> None:
        t = self.t.points_balances
        before = tx.execute(select(t.c.points_earned).where(t.c.wallet == e.wallet)).scalar()
        if before is None:
            before = 0
            tx.execute(
                insert(t).values(
                    wallet=e.wallet,
                    chain_type=e.chain_type,
                    points_earned=e.amount,
                    total_activities=1,
                    created_at=e.at,
                    last_activity_at=e.at,
                )
            )
        else:
            tx.execute(
                update(t)
                .where(t.c.wallet == e.wallet)
                .values(
                    points_earned=t.c.points_earned + e.amount,
                    total_activities=t.c.total_activities + 1,
                    last_activity_at=e.at,
                )
            )
        tx.insert(
            self.t.points_ledger,
            {
                "day_id": str(e.originator_id),
                "version": e.originator_version,
                "wallet": e.wallet,
                "activity": e.activity,
                "amount": e.amount,
                "balance_before": before,
                "balance_after": before + e.amount,
                "reason": e.reason,
                "created_at": e.at,
            },
        )


# -- queries ------------------------------------------------------------------------------------

_ORDER = (points_balances.c.points_earned.desc(), points_balances.c.created_at, points_balances.c.wallet)


def balance_of(conn: Connection, wallet: str) -> dict[str, Any] | None:
    """A wallet's points with its leaderboard rank (ties go to the wallet that started earning first)."""
    t = points_balances
    row = conn.execute(select(t).where(t.c.wallet == wallet)).first()
    if row is None:
        return None
    ahead = or_(
        t.c.points_earned > row.points_earned,
        and_(
            t.c.points_earned == row.points_earned,
            or_(t.c.created_at < row.created_at, and_(t.c.created_at == row.created_at, t.c.wallet < row.wallet)),
        ),
    )
    rank = conn.execute(select(func.count()).select_from(t).where(ahead)).scalar_one() + 1
    return {**row._mapping, "rank": rank}


def leaderboard(conn: Connection, count: int) -> list[dict[str, Any]]:
    rows = _LEADERBOARD.rows(conn, {"count": count})
    for position, row in enumerate(rows, start=1):
        row["rank"] = position
    return rows


_LEADERBOARD = Prepared(select(points_balances).order_by(*_ORDER).limit(bindparam("count")))


def ledger_of(conn: Connection, wallet: str) -> list[dict[str, Any]]:
    t = points_ledger
    query = select(t).where(t.c.wallet == wallet)
    return [dict(row._mapping) for row in conn.execute(query.order_by(t.c.created_at, t.c.day_id, t.c.version))]
